"""Defect: the first cookie of the header is taken as the session, whatever its name, which
passes as long as the session cookie is the only one."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Scope


class App(ChatApp):
    def cookies(self, scope: Scope) -> dict[str, str]:
        cookies = super().cookies(scope)
        return {"session": next(iter(cookies.values()))} if cookies else {}


app = App()
