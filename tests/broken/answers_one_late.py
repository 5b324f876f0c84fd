"""Defect: each message is answered one message late: the reply to a message is sent when the
next one arrives (the app reads before it writes). The handshake is accepted and the target
answers, so the run goes on and the checks of the echo say what is broken."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        owed: str | None = None
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await conn.close(self.binary_close_code)
                return
            if owed is not None:
                await self.send_reply(conn, owed)
                owed = None
            if self.is_bye(message):
                await self.say_bye(conn)
                return
            owed = self.reply(message)


app = App()
