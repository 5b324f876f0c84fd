"""Defect: the echo endpoint accepts with a ``Sec-WebSocket-Extensions: permessage-deflate``
header although the client offered no extension (RFC 6455 §4.1: the client must fail such a
connection)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class _Conn(Conn):
    async def accept(self) -> None:
        await self._send({"type": "websocket.accept",
                          "headers": [(b"sec-websocket-extensions", b"permessage-deflate")]})


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await super().echo(_Conn(conn.scope, conn._receive, conn._send))


app = App()
