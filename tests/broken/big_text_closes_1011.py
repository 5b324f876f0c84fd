"""Defect: a text over 64 KiB is refused with 1011 (internal error), as when a size limit
raises and the framework closes on the exception, instead of 1009 (message too big), the one
code the protocol lets a server refuse a larger message with. Texts of 64 KiB and less are
echoed whole."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn

LIMIT = 64 * 1024


class _Conn(Conn):
    async def receive(self) -> str | bytes:
        message = await super().receive()
        if isinstance(message, str) and len(message.encode("utf-8")) > LIMIT:
            await self.close(1011)  # the defect: 1009 is the code for "message too big"
            raise ClientGone
        return message


class App(ChatApp):
    conn_type = _Conn


app = App()
