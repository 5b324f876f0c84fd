"""Defect: after the farewells the connection is left open (no close), and further messages
are still echoed."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await conn.close(self.binary_close_code)
                return
            if self.is_bye(message):
                for farewell in self.farewells:
                    await self.send_reply(conn, farewell)
                continue
            await self.send_reply(conn, self.reply(message))


app = App()
