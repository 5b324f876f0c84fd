"""Defect: the echo endpoint refuses every handshake that carries an ``Origin`` header (a
cross-site check that allows no origin at all), so no browser can chat, although every
client without one is served."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


def has_origin(conn: Conn) -> bool:
    return any(name.lower() == b"origin" for name, _ in conn.scope["headers"])


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        if has_origin(conn):
            await conn.close(1008)  # before accept: a 403 on the wire
            return
        await super().echo(conn)


app = App()
