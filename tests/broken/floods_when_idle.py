"""Defect: a client that says nothing for 50 ms after connecting is flooded: the server
sends ``are you there?`` ten million times, without ever yielding of its own accord."""

from __future__ import annotations

import asyncio

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        first = asyncio.ensure_future(conn.receive())
        done, _ = await asyncio.wait({first}, timeout=0.05)
        if not done:
            for _ in range(10_000_000):  # bounded only by the client: backpressure, then 1008
                await conn.send_text("are you there?")
        message = await first
        while True:
            if isinstance(message, bytes):
                await conn.close(self.binary_close_code)
                return
            if self.is_bye(message):
                await self.say_bye(conn)
                return
            await self.send_reply(conn, self.reply(message))
            message = await conn.receive()


app = App()
