"""Defect: the bye word only works as the first message of a conversation."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        first = True
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await conn.close(self.binary_close_code)
                return
            if first and self.is_bye(message):
                await self.say_bye(conn)
                return
            first = False
            await self.send_reply(conn, self.reply(message))


app = App()
