"""Defect: two ordinary messages that arrive together (within 10 ms) are answered in the
wrong order: the second one's echo first. A client that waits for each reply never sees it;
one that sends many messages before reading does."""

from __future__ import annotations

import asyncio

from tests.implementations.raw_asgi import ChatApp, Conn

TOGETHER = 0.01


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        pending: asyncio.Future[str | bytes] | None = None
        try:
            while True:
                first = await (pending or conn.receive())
                pending = None
                if isinstance(first, bytes) or self.is_bye(first):
                    if await self._special(conn, first):
                        return
                    continue
                pending = asyncio.ensure_future(conn.receive())
                done, _ = await asyncio.wait({pending}, timeout=TOGETHER)
                second = pending.result() if done else None
                if isinstance(second, str) and not self.is_bye(second):
                    pending = None
                    await self.send_reply(conn, self.reply(second))  # the defect
                    await self.send_reply(conn, self.reply(first))
                else:
                    await self.send_reply(conn, self.reply(first))
                    if second is not None:
                        pending = None
                        if await self._special(conn, second):
                            return
        finally:
            if pending is not None:
                pending.cancel()

    async def _special(self, conn: Conn, message: str | bytes) -> bool:
        """Bye or binary: True when the conversation is over."""
        if isinstance(message, bytes):
            await conn.close(self.binary_close_code)
            return True
        await self.say_bye(conn)
        return True


app = App()
