"""Defect (SHOULD level): a size guard written for text meets binary messages too. It counts a
message's UTF-8 bytes only when its length alone cannot decide (a character is at most four
bytes), so a binary message of more than a quarter of its 1 MiB limit makes it call
``encode`` on bytes: the endpoint raises ``AttributeError`` instead of closing with 1003.
Shorter binary messages, and every text the protocol names, get the right answer."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn

LIMIT = 1024 * 1024


def too_big(message: str | bytes) -> bool:
    if len(message) * 4 <= LIMIT:
        return False
    return len(message.encode("utf-8")) > LIMIT  # type: ignore[union-attr]  # the defect


class _Conn(Conn):
    async def receive(self) -> str | bytes:
        message = await super().receive()
        if too_big(message):
            await self.close(1009)
            raise ClientGone
        return message


class App(ChatApp):
    conn_type = _Conn


app = App()
