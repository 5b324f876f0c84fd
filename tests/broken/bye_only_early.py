"""Defect: the bye word only works in the first second of a connection; said later it is
echoed like any other message (against /ws 3-4: a pause changes nothing)."""

from __future__ import annotations

import time

from tests.implementations.raw_asgi import ChatApp, Conn

#: Seconds after the accept during which the bye word still ends the chat.
EARLY = 1.0


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        opened = time.monotonic()
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await conn.close(self.binary_close_code)
                return
            if self.is_bye(message) and time.monotonic() - opened < EARLY:
                await self.say_bye(conn)
                return
            await self.send_reply(conn, self.reply(message))


app = App()
