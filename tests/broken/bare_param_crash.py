"""Defect: the query string is parsed with ``dict(p.split("=") for p in qs.split("&"))``,
which raises on a parameter without ``=`` (``?debug&token=x``): the app fails the handshake
of every such client."""

from __future__ import annotations

from urllib.parse import unquote_plus

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def query(self, scope: Scope) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        if not raw:
            return {}
        pairs = dict(p.split("=") for p in raw.split("&"))
        return {unquote_plus(k): unquote_plus(v) for k, v in pairs.items()}


app = App()
