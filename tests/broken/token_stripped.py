"""Defect: the token is stripped of surrounding whitespace (``token.strip()``), which the
query's decoding keeps: ``?token=+abc+`` is `` abc ``, not ``abc``."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def query(self, scope: Scope) -> dict[str, str]:
        query = super().query(scope)
        if "token" in query:
            query["token"] = query["token"].strip()
        return query


app = App()
