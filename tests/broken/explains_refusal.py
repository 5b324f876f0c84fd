"""Defect: the refusal sends a text explaining it (``credentials required``) between the
accept and the close 1008; the brief says the client never gets a message."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def refuse(self, conn: Conn) -> None:
        await conn.accept()
        await conn.send_text("credentials required")
        await conn.close(self.denied_close_code)


app = App()
