"""Defect: the query is decoded with ``unquote``, not as a form: ``%XX`` escapes are decoded
but ``+`` stays a plus instead of becoming a space. A client that spells a space ``%20``
never sees it."""

from __future__ import annotations

from urllib.parse import unquote

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def query(self, scope: Scope) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        pairs = (part.partition("=") for part in raw.split("&") if part)
        return {unquote(key): unquote(value) for key, _, value in pairs}


app = App()
