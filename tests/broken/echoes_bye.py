"""Defect: the bye word is echoed like any message before the farewells are sent."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def say_bye(self, conn: Conn) -> None:
        await self.send_reply(conn, self.reply(self.bye_word))
        await super().say_bye(conn)


app = App()
