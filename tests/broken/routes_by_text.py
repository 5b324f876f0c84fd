"""Defect: replies are handed back through a table keyed by their text (the reply is made by
a worker, and the waiting connection is looked up by what it asked), so two clients that send
the same text at the same moment share one entry: one gets both replies, the other none."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    waiting: ClassVar[dict[str, Conn]] = {}

    async def send_reply(self, conn: Conn, text: str) -> None:
        App.waiting[text] = conn
        await asyncio.sleep(0)  # the worker's turn
        receiver = App.waiting.pop(text, None)
        if receiver is not None:
            await receiver.send_text(text)


app = App()
