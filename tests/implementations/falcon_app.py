"""A correct implementation on Falcon's ASGI app: two resources with ``on_websocket``.

Falcon checks the lifespan scope's ``asgi.version`` (it refuses 2.0, the default when the key
is missing), so it also shows that the kit hands an app the scope a server does. Messages
are read with ``receive_text()``: a binary frame raises ``PayloadTypeError``, answered with
1003. The credentials come from the raw query string and ``Cookie`` header, parsed by the
standard library the protocol names (``urllib.parse``) and split as ``http.cookies`` does:
Falcon's ``req.cookies`` keeps the first of two cookies of one name, where Starlette and
``http.cookies`` keep the last. The refusal accepts first and then
closes with 1008, like the reference app. Falcon turns a failed send into
``WebSocketDisconnected`` but lets the server's ``OSError`` (ASGI 2.4: the client left) out of
a close, its own included (it closes the connection after a responder returns): a client
that drops right before a close would end in an unhandled exception, so the app registers
an error handler for ``OSError`` that ends such a conversation quietly.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import falcon.asgi
from falcon.errors import PayloadTypeError, WebSocketDisconnected

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")


class Echo:
    async def on_websocket(self, req: falcon.asgi.Request,
                           ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                try:
                    message = await ws.receive_text()
                except PayloadTypeError:
                    await ws.close(1003)
                    return
                if message == "bye":
                    for farewell in FAREWELLS:
                        await ws.send_text(farewell)
                    await ws.close(1000)
                    return
                await ws.send_text(PREFIX + message)
        except WebSocketDisconnected:
            return


def _q(raw: str) -> int | None:
    try:
        return int(raw) if raw.isascii() else None
    except ValueError:
        return None


def _cookie(header: str, name: str) -> str | None:
    """The cookie ``name`` as Starlette and ``http.cookies`` give it: split on ``;``, names
    exact, surrounding double quotes removed, no percent-decoding; the last one wins."""
    found = None
    for chunk in header.split(";"):
        key, sep, value = chunk.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            found = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return found


class Item:
    async def on_websocket(self, req: falcon.asgi.Request,
                           ws: falcon.asgi.WebSocket) -> None:
        params = dict(parse_qsl(req.query_string, keep_blank_values=True))
        session = _cookie(req.get_header("cookie") or "", "session")
        token, raw_q = params.get("token"), params.get("q")
        q = None if raw_q is None else _q(raw_q)
        await ws.accept()
        try:
            if (session is None and token is None) or (raw_q is not None and q is None):
                await ws.close(1008)
                return
            credential = session or token
            while True:
                try:
                    message = await ws.receive_text()
                except PayloadTypeError:
                    await ws.close(1003)
                    return
                await ws.send_text(f"Session cookie or query token value is: {credential}")
                if raw_q is not None:
                    await ws.send_text(f"parameter q is: {q}")
                await ws.send_text(f"Message text was: {message}, for : {q}")
        except WebSocketDisconnected:
            return


async def _client_gone(req: falcon.asgi.Request, resp: object, ex: Exception,
                       params: dict[str, object], ws: object = None) -> None:
    """The client left before a close could reach it: nothing is left to do for it."""


app = falcon.asgi.App()
app.add_error_handler(OSError, _client_gone)
app.add_route("/ws", Echo())
app.add_route("/item/ws", Item())
