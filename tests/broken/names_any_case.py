"""Defect: query parameter and cookie names are read case-insensitively (``TOKEN`` and
``Session`` count; the last of any case wins)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        return {name.lower(): value for name, value in super().cookies(scope).items()}

    def query(self, scope: Scope) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        return {name.lower(): value for name, value in parse_qsl(raw, keep_blank_values=True)}


app = App()
