"""Defect: after the bye close the app still sends one more text (in ASGI terms a
``websocket.send`` after ``websocket.close``)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def say_bye(self, conn: Conn) -> None:
        await super().say_bye(conn)
        await conn.send_text("session ended")


app = App()
