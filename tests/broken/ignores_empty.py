"""Defect: an empty message gets no reply (``if not text: continue``)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def send_reply(self, conn: Conn, text: str) -> None:
        if text == self.reply(""):
            return
        await conn.send_text(text)


app = App()
