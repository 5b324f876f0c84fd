"""Defect: the close after the bye word explains itself at length, a reason of 180 bytes of
UTF-8, more than a close frame carries (123, RFC 6455 §5.5). No server can send that close:
uvicorn with websockets drops the connection without a close frame (1006), wsproto cuts the
reason. In-process the app's ``websocket.close`` goes through as if it were sendable."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn

#: 60 characters of 3 bytes each: 180 bytes of UTF-8.
REASON = "窗口已关闭" * 12


class App(ChatApp):
    async def say_bye(self, conn: Conn) -> None:
        for farewell in self.farewells:
            await self.send_reply(conn, farewell)
        try:
            await conn._send({"type": "websocket.close", "code": 1000, "reason": REASON})
        except OSError as exc:  # the client left first
            raise ClientGone from exc


app = App()
