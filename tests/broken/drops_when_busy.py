"""Defect: messages go through a bounded buffer of 10 that drops on overflow (``put_nowait``
with ``QueueFull`` ignored), so a client that sends many messages before reading loses some.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue(maxsize=10)

        async def read() -> None:
            try:
                while True:
                    message = await conn.receive()
                    with contextlib.suppress(asyncio.QueueFull):
                        inbox.put_nowait(message)
            except ClientGone:
                await inbox.put(None)

        reader = asyncio.create_task(read())
        try:
            while (message := await inbox.get()) is not None:
                if isinstance(message, bytes):
                    await conn.close(self.binary_close_code)
                    return
                if self.is_bye(message):
                    await self.say_bye(conn)
                    return
                await self.send_reply(conn, self.reply(message))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientGone):
                await reader


app = App()
