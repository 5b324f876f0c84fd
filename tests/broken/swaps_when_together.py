"""Defect: replies to messages that arrive together (from two clients within a few
milliseconds) are swapped between their clients; a message that arrives alone is answered
right. Only clients that talk at the same time can tell."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from tests.implementations.raw_asgi import ChatApp, Conn

#: How long a message waits for another one to arrive "together".
WINDOW = 0.005


class App(ChatApp):
    pending: ClassVar[list[tuple[Conn, str]]] = []

    async def send_reply(self, conn: Conn, text: str) -> None:
        if not text.startswith(self.reply("")):
            await conn.send_text(text)
            return
        entry = (conn, text)
        App.pending.append(entry)
        await asyncio.sleep(WINDOW)
        if entry not in App.pending:
            return  # answered (to someone else) by the message that arrived with it
        batch, App.pending = App.pending, []
        receivers = [c for c, _ in batch]
        receivers = receivers[1:] + receivers[:1]  # each reply goes to the next client
        for receiver, (_, reply) in zip(receivers, batch):
            await receiver.send_text(reply)


app = App()
