"""Defect: the echo endpoint refuses every handshake without an ``Origin`` header (only
browsers may chat), although the protocol accepts clients with or without one."""

from __future__ import annotations

from tests.broken.refuses_browsers import has_origin
from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        if not has_origin(conn):
            await conn.close(1008)  # before accept: a 403 on the wire
            return
        await super().echo(conn)


app = App()
