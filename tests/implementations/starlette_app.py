"""A correct implementation on plain Starlette (no FastAPI): two ``WebSocketRoute`` endpoints.

Messages are read with ``websocket.receive()`` so that a binary frame and a disconnect are
told apart; the refusal accepts first and then closes with 1008, like the reference app.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")


async def _next(websocket: WebSocket) -> str | bytes | None:
    """The next message, or None when the client has gone."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    if message.get("text") is not None:
        return str(message["text"])
    return bytes(message.get("bytes") or b"")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while (message := await _next(websocket)) is not None:
            if isinstance(message, bytes):
                await websocket.close(1003)
                return
            if message == "bye":
                for farewell in FAREWELLS:
                    await websocket.send_text(farewell)
                await websocket.close(1000)
                return
            await websocket.send_text(PREFIX + message)
    except (WebSocketDisconnect, OSError):
        return


def _q(raw: str) -> int | None:
    try:
        return int(raw) if raw.isascii() else None
    except ValueError:
        return None


async def item(websocket: WebSocket) -> None:
    session = websocket.cookies.get("session")
    token = websocket.query_params.get("token")
    raw_q = websocket.query_params.get("q")
    q = None if raw_q is None else _q(raw_q)
    await websocket.accept()
    try:
        if (session is None and token is None) or (raw_q is not None and q is None):
            await websocket.close(1008)
            return
        credential = session or token
        while (message := await _next(websocket)) is not None:
            if isinstance(message, bytes):
                await websocket.close(1003)
                return
            await websocket.send_text(f"Session cookie or query token value is: {credential}")
            if raw_q is not None:
                await websocket.send_text(f"parameter q is: {q}")
            await websocket.send_text(f"Message text was: {message}, for : {q}")
    except (WebSocketDisconnect, OSError):
        return


app = Starlette(routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/item/ws", item)])
