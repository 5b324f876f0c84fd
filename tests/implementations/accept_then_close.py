"""A correct FastAPI implementation that refuses by accepting first and then closing with
1008 — the reference app's choice, which lets the code reach every client, browsers included.

Credentials are declared as FastAPI parameters (``Cookie``, ``Query``) the way the tutorial
does, but ``q`` is taken as a string and validated by hand: declared as ``int``, FastAPI would
refuse a bad ``q`` before the app could accept (see ``close_before_accept``).
"""

from __future__ import annotations

from fastapi import Cookie, FastAPI, Query, WebSocket, WebSocketDisconnect, status

app = FastAPI()

PREFIX = "接收到的消息是:"


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is None:
                await websocket.close(status.WS_1003_UNSUPPORTED_DATA)
                return
            data = message["text"]
            if data == "bye":
                await websocket.send_text("请注意:窗口即将关闭")
                await websocket.send_text("窗口已关闭")
                await websocket.close(status.WS_1000_NORMAL_CLOSURE)
                return
            await websocket.send_text(PREFIX + data)
    except (WebSocketDisconnect, OSError):
        return


def _as_int(raw: str) -> int | None:
    try:
        return int(raw) if raw.isascii() else None
    except ValueError:
        return None


@app.websocket("/item/ws")
async def item_endpoint(
    websocket: WebSocket,
    session: str | None = Cookie(default=None),
    token: str | None = Query(default=None),
    q: str | None = Query(default=None),
) -> None:
    number = None if q is None else _as_int(q)
    await websocket.accept()
    try:
        if (session is None and token is None) or (q is not None and number is None):
            await websocket.close(status.WS_1008_POLICY_VIOLATION)
            return
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is None:
                await websocket.close(status.WS_1003_UNSUPPORTED_DATA)
                return
            await websocket.send_text(
                f"Session cookie or query token value is: {session or token}")
            if q is not None:
                await websocket.send_text(f"parameter q is: {number}")
            await websocket.send_text(f"Message text was: {message['text']}, for : {number}")
    except (WebSocketDisconnect, OSError):
        return
