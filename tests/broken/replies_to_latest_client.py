"""Defect: replies go to the most recently connected client (the app keeps one module-wide
``send`` instead of one per connection)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    latest: Conn | None = None

    async def echo(self, conn: Conn) -> None:
        App.latest = conn
        await super().echo(conn)

    async def send_reply(self, conn: Conn, text: str) -> None:
        if conn.scope["path"] == self.echo_path and App.latest is not None:
            conn = App.latest
        await conn.send_text(text)


app = App()
