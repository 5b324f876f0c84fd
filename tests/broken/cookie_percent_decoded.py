"""Defect: the session cookie is percent-decoded (``%20`` becomes a space), which a cookie
never is."""

from __future__ import annotations

from urllib.parse import unquote

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        return {name: unquote(value) for name, value in super().cookies(scope).items()}


app = App()
