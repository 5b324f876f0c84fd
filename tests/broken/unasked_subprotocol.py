"""Defect: the echo endpoint accepts with the subprotocol ``chat`` although the client asked
for none (RFC 6455 §4.1: the client must fail such a connection)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class _Conn(Conn):
    async def accept(self) -> None:
        await self._send({"type": "websocket.accept", "subprotocol": "chat"})


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await super().echo(_Conn(conn.scope, conn._receive, conn._send))


app = App()
