"""Defect: an empty cookie counts as absent (``if session:`` instead of ``is not None``)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie) or token is not None


app = App()
