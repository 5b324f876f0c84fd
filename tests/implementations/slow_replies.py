"""A correct implementation that waits 50 ms (``asyncio.sleep``) before every message it
sends, as an app doing real work per reply would.

It shows that the kit's waits are per message and that the in-process driver's known-idle
shortcut never mistakes an app that is sleeping for one that is waiting for the client.
"""

from __future__ import annotations

import asyncio

from tests.implementations.raw_asgi import ChatApp, Conn

REPLY_DELAY = 0.05


class SlowChatApp(ChatApp):
    async def send_reply(self, conn: Conn, text: str) -> None:
        await asyncio.sleep(REPLY_DELAY)
        await conn.send_text(text)


app = SlowChatApp()
