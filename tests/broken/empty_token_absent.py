"""Defect: an empty token counts as absent (``if token:`` instead of ``is not None``), so
``?token=`` alone is refused."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        return cookie is not None or bool(token)


app = App()
