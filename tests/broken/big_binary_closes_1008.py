"""Defect (SHOULD level): a binary message over 128 KiB is refused with 1008 (policy
violation), neither the binary close 1003 nor 1009 (message too big), the code a server
gives a message over its limit; shorter binary messages get their 1003."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn

LIMIT = 128 * 1024


class App(ChatApp):
    async def on_binary(self, conn: Conn, data: bytes) -> None:
        if len(data) > LIMIT:
            await conn.close(1008)
            return
        await super().on_binary(conn, data)


app = App()
