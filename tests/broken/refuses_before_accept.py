"""Defect (SHOULD level): the credentials endpoint refuses with a close *before* accepting,
so over a network the 1008 is lost (HTTP 403)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def refuse(self, conn: Conn) -> None:
        await conn.close(self.denied_close_code)


app = App()
