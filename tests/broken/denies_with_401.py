"""Defect: missing credentials (or a bad ``q``) get an HTTP 401 denial response (the ASGI
denial-response extension) instead of a close with 1008: the client sees its handshake refused
before it completed, and no close code at all."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def refuse(self, conn: Conn) -> None:
        send = conn._send
        await send({"type": "websocket.http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"credentials needed"})


app = App()
