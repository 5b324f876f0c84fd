"""Defect (SHOULD level): the app guards its sends but not its close. When the client has
dropped just before the app closes (right after a binary message, or on a handshake it
refuses for want of credentials), the server's send of the close fails with an ``OSError``
(ASGI 2.4) that escapes the endpoint: an unhandled exception instead of a quiet end."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn, Message


class _Conn(Conn):
    async def close(self, code: int = 1000) -> None:
        message: Message = {"type": "websocket.close"}
        if code != 1000:
            message["code"] = code
        await self._send(message)  # the OSError of a client that left escapes


class App(ChatApp):
    conn_type = _Conn


app = App()
