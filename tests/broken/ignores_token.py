"""Defect: the token is not a credential: only the cookie lets a client in and is rendered."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        return cookie is not None

    def credential(self, cookie: str | None, token: str | None) -> str | None:
        return cookie


app = App()
