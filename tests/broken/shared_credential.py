"""Defect: the credential is kept in one attribute of the app, not per connection, so every
open connection renders the credential of the client that connected last."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    current: str | None = None

    def credential(self, cookie: str | None, token: str | None) -> str | None:
        App.current = cookie or token
        return App.current

    async def on_auth_message(self, conn: Conn, credential: str | None, raw_q: str | None,
                              q: int | None, message: str) -> None:
        await super().on_auth_message(conn, App.current, raw_q, q, message)


app = App()
