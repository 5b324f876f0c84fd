"""Defect: every second a connection stays open the server sends an unsolicited ``tick``
text (a heartbeat as a message, against /ws 3), also while the client is idle."""

from __future__ import annotations

import asyncio
import contextlib

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn

#: Seconds between two ticks.
PERIOD = 1.0


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()

        async def tick() -> None:
            with contextlib.suppress(ClientGone):
                while True:
                    await asyncio.sleep(PERIOD)
                    await conn.send_text("tick")

        ticker = asyncio.ensure_future(tick())
        try:
            await super_echo(self, conn)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker


async def super_echo(app: ChatApp, conn: Conn) -> None:
    """The reference echo loop, after the accept."""
    while True:
        message = await conn.receive()
        if isinstance(message, bytes):
            await conn.close(app.binary_close_code)
            return
        if app.is_bye(message):
            await app.say_bye(conn)
            return
        await app.send_reply(conn, app.reply(message))


app = App()
