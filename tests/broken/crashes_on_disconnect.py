"""Defect (SHOULD level): the app reads ``message["text"]`` without looking at the message
type, so a client that goes away makes it raise ``KeyError``."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class CrashingConn(Conn):
    async def receive(self) -> str | bytes:
        message = await self._receive()
        if message.get("bytes") is not None:
            return bytes(message["bytes"])
        return str(message["text"])  # KeyError on websocket.disconnect

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})  # OSError escapes


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await super().echo(CrashingConn(conn.scope, conn._receive, conn._send))

    async def auth(self, conn: Conn) -> None:
        await super().auth(CrashingConn(conn.scope, conn._receive, conn._send))


app = App()
