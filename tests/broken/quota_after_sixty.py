"""Defect: a per-connection quota: after its 60th echo the server closes the connection
(1000). Every conversation shorter than that passes; only a long one shows it."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn

QUOTA = 60


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        echoes = 0
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await conn.close(self.binary_close_code)
                return
            if self.is_bye(message):
                await self.say_bye(conn)
                return
            await self.send_reply(conn, self.reply(message))
            echoes += 1
            if echoes == QUOTA:
                await conn.close(1000)
                return


app = App()
