"""A FastAPI implementation in the tutorial's style: it refuses the handshake (a close with
1008 *before* accepting) when credentials are missing or ``q`` is not an integer.

That conforms at MUST level: in-process the kit sees the close with 1008 before accept, and
over a network uvicorn turns it into an HTTP 403, which the kit accepts as its wire form. It
fails the SHOULD-level ``auth.missing-observable`` by design, because a network client never
sees the 1008. ``q`` is declared ``int | None`` as in the tutorial: FastAPI's own validation
refuses a non-integer ``q`` the same way (close 1008 before accept).
"""

from __future__ import annotations

from fastapi import (
    Cookie,
    Depends,
    FastAPI,
    Query,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)

app = FastAPI()


async def get_cookie_or_token(
    session: str | None = Cookie(default=None),
    token: str | None = Query(default=None),
) -> str | None:
    if session is None and token is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
    return session or token


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
            if message["text"] == "bye":
                await websocket.send_text("请注意:窗口即将关闭")
                await websocket.send_text("窗口已关闭")
                await websocket.close()
                return
            await websocket.send_text(f"接收到的消息是:{message['text']}")
    except (WebSocketDisconnect, OSError):
        return


@app.websocket("/item/ws")
async def item_endpoint(
    websocket: WebSocket,
    q: int | None = None,
    cookie_or_token: str | None = Depends(get_cookie_or_token),
) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is None:
                await websocket.close(status.WS_1003_UNSUPPORTED_DATA)
                return
            await websocket.send_text(
                f"Session cookie or query token value is: {cookie_or_token}")
            if q is not None:
                await websocket.send_text(f"parameter q is: {q}")
            await websocket.send_text(f"Message text was: {message['text']}, for : {q}")
    except (WebSocketDisconnect, OSError):
        return
