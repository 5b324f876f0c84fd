"""Defect: the credentials endpoint refuses every handshake that carries an ``Origin`` header
(a cross-site check that allows no origin at all), so no browser reaches it, with a valid
token or a cookie, although every client without one is served and the echo endpoint
serves browsers too."""

from __future__ import annotations

from tests.broken.refuses_browsers import has_origin
from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def auth(self, conn: Conn) -> None:
        if has_origin(conn):
            await conn.close(1008)  # before accept: a 403 on the wire
            return
        await super().auth(conn)


app = App()
