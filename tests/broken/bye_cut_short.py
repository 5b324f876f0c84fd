"""Defect: between the two farewells the server listens briefly for a client that is
already leaving, and a message that arrived meanwhile makes it close at once, without the
second farewell. A client that reads before it sends never sees it; one that sends more
messages right after the bye word does."""

from __future__ import annotations

import asyncio

from tests.implementations.raw_asgi import ChatApp, Conn

#: How long the server listens between the farewells (seconds).
LISTEN = 0.05


class App(ChatApp):
    async def say_bye(self, conn: Conn) -> None:
        first, *rest = self.farewells
        await self.send_reply(conn, first)
        try:
            await asyncio.wait_for(conn.receive(), LISTEN)
        except TimeoutError:
            for farewell in rest:
                await self.send_reply(conn, farewell)
        await conn.close(self.bye_close_code)


app = App()
