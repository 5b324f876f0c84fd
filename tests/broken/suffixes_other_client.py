"""Defect: each echo ends with what another open client said last (a module-wide "last
message" glued to replies): the reply starts right, and ends with another client's words."""

from __future__ import annotations

from typing import ClassVar

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    said: ClassVar[dict[Conn, str]] = {}

    async def echo(self, conn: Conn) -> None:
        try:
            await super().echo(conn)
        finally:
            App.said.pop(conn, None)

    async def send_reply(self, conn: Conn, text: str) -> None:
        if text.startswith(self.reply("")):
            others = [m for c, m in App.said.items() if c is not conn]
            App.said[conn] = text.removeprefix(self.reply(""))
            if others:
                text += f" (and: {others[-1]})"
        await conn.send_text(text)


app = App()
