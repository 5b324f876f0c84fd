"""A correct implementation on BlackSheep: two ``router.ws`` handlers.

Messages are read with the raw ``websocket.receive()`` to tell text from binary (its
``receive_text()`` fails with a ``KeyError`` on a binary frame); a client that leaves raises
``WebSocketDisconnectError`` there. The query string is parsed with ``urllib.parse``,
keeping blank values (``websocket.query`` drops them, and an empty token is a credential);
the cookie is read from the ``Cookie`` header by hand, as the standard parsers give it. The
refusal accepts first and then closes with 1008, like the reference app.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from blacksheep import Application, WebSocket
from blacksheep.server.websocket import WebSocketDisconnectError

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")

app = Application()


async def _next(websocket: WebSocket) -> str | bytes:
    """The next message (``WebSocketDisconnectError`` when the client has gone)."""
    message = await websocket.receive()
    text = message.get("text")
    if text is not None:
        return str(text)
    return bytes(message.get("bytes") or b"")


@app.router.ws("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await _next(websocket)
            if isinstance(message, bytes):
                await websocket.close(1003)
                return
            if message == "bye":
                for farewell in FAREWELLS:
                    await websocket.send_text(farewell)
                await websocket.close(1000)
                return
            await websocket.send_text(PREFIX + message)
    except (WebSocketDisconnectError, OSError):
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


@app.router.ws("/item/ws")
async def item(websocket: WebSocket) -> None:
    header = b"; ".join(websocket.get_headers(b"cookie")).decode("latin-1")
    session = _cookie(header, "session")
    params = dict(parse_qsl(websocket.scope["query_string"].decode("latin-1"),
                            keep_blank_values=True))
    token, raw_q = params.get("token"), params.get("q")
    q = None if raw_q is None else _q(raw_q)
    await websocket.accept()
    try:
        if (session is None and token is None) or (raw_q is not None and q is None):
            await websocket.close(1008)
            return
        credential = session or token
        while True:
            message = await _next(websocket)
            if isinstance(message, bytes):
                await websocket.close(1003)
                return
            await websocket.send_text(f"Session cookie or query token value is: {credential}")
            if raw_q is not None:
                await websocket.send_text(f"parameter q is: {q}")
            await websocket.send_text(f"Message text was: {message}, for : {q}")
    except (WebSocketDisconnectError, OSError):
        return
