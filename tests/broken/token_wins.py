"""Defect: ``token or cookie`` instead of ``cookie or token``: the token wins."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def credential(self, cookie: str | None, token: str | None) -> str | None:
        return token or cookie


app = App()
