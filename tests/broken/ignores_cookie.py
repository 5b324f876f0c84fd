"""Defect: the session cookie is not a credential: only the token lets a client in."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        return token is not None

    def credential(self, cookie: str | None, token: str | None) -> str | None:
        return token


app = App()
