"""Defect: the query string is split by hand without percent-decoding, so a token with
escaped characters comes back still escaped."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def query(self, scope: Scope) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        pairs = (part.partition("=") for part in raw.split("&") if part)
        return {key: value for key, _, value in pairs}


app = App()
