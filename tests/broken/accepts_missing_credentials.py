"""Defect: a client with neither cookie nor token is accepted (credential ``None``)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        return True


app = App()
