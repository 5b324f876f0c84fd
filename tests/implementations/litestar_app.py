"""A correct implementation on Litestar: two ``@websocket`` route handlers.

Litestar's ``receive_text()`` turns a binary frame into ``""``, so messages are read with the
raw ``websocket.receive()`` to tell text, binary and a disconnect apart. The token comes from
``websocket.query_params``; the cookie is read from the ``Cookie`` header by hand, because
``websocket.cookies`` percent-decodes values and the protocol renders a cookie as standard
cookie parsing gives it, never percent-decoded. ``q`` is validated by hand (declared as
an ``int`` handler parameter, Litestar would refuse a bad ``q`` before the handler runs). The
refusal accepts first and then closes with 1008, like the reference app.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")


async def _next(socket: WebSocket[Any, Any, Any]) -> str | bytes | None:
    """The next message, or None when the client has gone."""
    message: dict[str, Any] = dict(await socket.receive())
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is not None:
        return str(text)
    data: bytes = message.get("bytes") or b""
    return data


@websocket("/ws")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    try:
        while (message := await _next(socket)) is not None:
            if isinstance(message, bytes):
                await socket.close(1003)
                return
            if message == "bye":
                for farewell in FAREWELLS:
                    await socket.send_text(farewell)
                await socket.close(1000)
                return
            await socket.send_text(PREFIX + message)
    except (WebSocketDisconnect, OSError):
        return


def _q(raw: str) -> int | None:
    try:
        return int(raw) if raw.isascii() else None
    except ValueError:
        return None


def _cookie(socket: WebSocket[Any, Any, Any], name: str) -> str | None:
    """The cookie ``name`` as Starlette and ``http.cookies`` give it: split on ``;``, names
    exact, surrounding double quotes removed, no percent-decoding; the last one wins."""
    found = None
    for chunk in socket.headers.get("cookie", "").split(";"):
        key, sep, value = chunk.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            found = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return found


@websocket("/item/ws")
async def item(socket: WebSocket[Any, Any, Any]) -> None:
    session = _cookie(socket, "session")
    token = socket.query_params.get("token")
    raw_q = socket.query_params.get("q")
    q = None if raw_q is None else _q(raw_q)
    await socket.accept()
    try:
        if (session is None and token is None) or (raw_q is not None and q is None):
            await socket.close(1008)
            return
        credential = session or token
        while (message := await _next(socket)) is not None:
            if isinstance(message, bytes):
                await socket.close(1003)
                return
            await socket.send_text(f"Session cookie or query token value is: {credential}")
            if raw_q is not None:
                await socket.send_text(f"parameter q is: {q}")
            await socket.send_text(f"Message text was: {message}, for : {q}")
    except (WebSocketDisconnect, OSError):
        return


app = Litestar(route_handlers=[echo, item])
