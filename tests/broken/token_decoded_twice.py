"""Defect: the token is percent-decoded a second time (``%25`` becomes ``%``, ``+`` a space),
as when a framework's already-decoded value is passed through ``unquote_plus`` again."""

from __future__ import annotations

from urllib.parse import unquote_plus

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def query(self, scope: Scope) -> dict[str, str]:
        query = super().query(scope)
        if "token" in query:
            query["token"] = unquote_plus(query["token"])
        return query


app = App()
