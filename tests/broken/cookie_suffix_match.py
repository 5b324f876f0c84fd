"""Defect: the session cookie is found with ``re.search(r"session=([^;]*)", header)``, which
also matches ``oldsession=`` or ``django_session=``: another cookie whose name ends in
``session`` is taken for it, and counts as a credential on its own."""

from __future__ import annotations

import re

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        header = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        found = re.search(r"session=([^;]*)", header)
        if found is None:
            return {}
        value = found.group(1).strip()
        return {"session": value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"'
                else value}


app = App()
