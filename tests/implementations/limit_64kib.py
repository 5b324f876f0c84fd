"""A correct implementation that takes messages of up to 64 KiB and no more.

The protocol counts 64 KiB as 65,536 bytes of UTF-8: a message within that must be echoed, a
larger one may be refused with 1009 (message too big). This app draws the line exactly
there, so a kit that sends "64 Ki characters" (up to four times as many bytes) would fail a
server that conforms. A binary message over 64 KiB gets the same 1009 instead of 1003, as a
server's own frame limit would give it: a kit must take either.
"""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp, ClientGone, Conn

#: The largest message the protocol requires a server to take, in bytes of UTF-8.
LIMIT = 64 * 1024


class App(ChatApp):
    async def send_reply(self, conn: Conn, text: str) -> None:
        if text.startswith(PREFIX) and len(text[len(PREFIX):].encode("utf-8")) > LIMIT:
            await conn.close(1009)  # larger than 64 KiB: refused, as the protocol allows
            raise ClientGone
        await super().send_reply(conn, text)

    async def on_binary(self, conn: Conn, data: bytes) -> None:
        if len(data) > LIMIT:
            await conn.close(1009)
            return
        await super().on_binary(conn, data)


app = App()
