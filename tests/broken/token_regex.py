"""Defect: the token is found with ``re.search(r"token=([^&]*)", query_string)``, which also
matches ``access_token=`` or ``csrftoken=``: another parameter whose name ends in ``token`` is
taken for it, and counts as a credential on its own."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def query(self, scope: Scope) -> dict[str, str]:
        query = super().query(scope)
        query.pop("token", None)
        raw = scope.get("query_string", b"").decode("latin-1")
        found = re.search(r"token=([^&]*)", raw)
        if found is not None:
            query["token"] = unquote_plus(found.group(1))
        return query


app = App()
