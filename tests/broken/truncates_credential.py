"""Defect: the credential is cut to 64 characters before it is rendered (a column width),
which every short credential passes."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def credential(self, cookie: str | None, token: str | None) -> str | None:
        value = cookie or token
        return None if value is None else value[:64]


app = App()
