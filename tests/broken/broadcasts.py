"""Defect: a broadcast chat (FastAPI's tutorial003 shape): every message is echoed to its
sender and also sent to every other open client as `Client #N says: ...`. No reply is another
client's *expected* reply, but every broadcast carries the sender's words."""

from __future__ import annotations

import itertools
from typing import ClassVar

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn


class App(ChatApp):
    clients: ClassVar[dict[Conn, int]] = {}
    numbers = itertools.count(1)

    async def echo(self, conn: Conn) -> None:
        App.clients[conn] = next(App.numbers)
        try:
            await super().echo(conn)
        finally:
            App.clients.pop(conn, None)

    async def send_reply(self, conn: Conn, text: str) -> None:
        await conn.send_text(text)
        if text.startswith(self.reply("")) and conn in App.clients:
            said = f"Client #{App.clients[conn]} says: {text.removeprefix(self.reply(''))}"
            for other in list(App.clients):
                if other is not conn:
                    try:
                        await other.send_text(said)
                    except ClientGone:
                        App.clients.pop(other, None)


app = App()
