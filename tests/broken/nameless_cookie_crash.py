"""Defect: the Cookie header is parsed with ``dict(c.split("=", 1) for c in header.split("; "))``,
which raises on a nameless cookie (a pair without ``=``, as browsers send one): the app fails
the handshake of every client that has one."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        header = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        if not header:
            return {}
        found = dict(c.split("=", 1) for c in header.split("; "))
        return {k: v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v
                for k, v in found.items()}


app = App()
