"""Defect: the echo endpoint refuses the handshake (a close before accept), as if it wanted
credentials too."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.close(1008)


app = App()
