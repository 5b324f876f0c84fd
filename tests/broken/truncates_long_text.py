"""Defect: a text is read into a buffer of 64 KiB, so a longer one is cut to its first
65,536 bytes of UTF-8 (a character split at the edge is dropped) and that much is echoed,
with no close. Every text the protocol requires a server to take (64 KiB and less) comes back
whole; only a larger one, which may be refused with 1009 but never trimmed, shows it."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn

#: The buffer: the protocol's 64 KiB, in bytes of UTF-8.
BUFFER = 64 * 1024


class _Conn(Conn):
    async def receive(self) -> str | bytes:
        message = await super().receive()
        if isinstance(message, str):
            return message.encode("utf-8")[:BUFFER].decode("utf-8", "ignore")  # the defect
        return message


class App(ChatApp):
    conn_type = _Conn


app = App()
