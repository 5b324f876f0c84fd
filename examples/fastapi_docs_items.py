"""FastAPI's documentation tutorial "WebSockets", "Using Depends and others": the endpoint
``/items/{item_id}/ws`` wants a ``session`` cookie or a ``token`` query parameter, takes an
optional integer ``q`` and answers every message with three (or two) lines.

Written the way the tutorial writes it: ``Cookie``/``Query`` dependencies, a dependency that
raises ``WebSocketException(code=WS_1008_POLICY_VIOLATION)`` before the handshake is
accepted, ``q: int | None`` validated by FastAPI (which also refuses a bad ``q`` with 1008
before accepting). Only the tutorial's ``/ws`` page endpoint is left out: the other tutorial
is ``fastapi_docs_echo.py``. Described by ``fastapi_docs_items.toml``, it passes every MUST
check. It fails three SHOULD checks, reported as warnings unless the run is strict:

* ``auth.missing-observable`` — refusing before accepting reaches a network client as an
  HTTP 403, so the 1008 is not observable on the wire (the kit passes ``auth.missing`` with a
  note, since both forms conform);
* ``robust.binary`` — ``receive_text()`` on a binary message raises ``KeyError``;
* ``robust.disconnect`` — a client that goes away makes ``receive_text()`` raise
  ``WebSocketDisconnect``, which nothing catches.

Check it with ``wscheck run --app examples.fastapi_docs_items:app --spec
examples/fastapi_docs_items.toml`` from the repository root.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    Cookie,
    Depends,
    FastAPI,
    Query,
    WebSocket,
    WebSocketException,
    status,
)

app = FastAPI()


async def get_cookie_or_token(
    websocket: WebSocket,
    session: Annotated[str | None, Cookie()] = None,
    token: Annotated[str | None, Query()] = None,
) -> str:
    if session is None and token is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
    # An empty cookie falls through to the token, which may be absent: rendered "None".
    return str(session or token)


@app.websocket("/items/{item_id}/ws")
async def websocket_endpoint(
    *,
    websocket: WebSocket,
    item_id: str,
    q: int | None = None,
    cookie_or_token: Annotated[str, Depends(get_cookie_or_token)],
) -> None:
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Session cookie or query token value is: {cookie_or_token}")
        if q is not None:
            await websocket.send_text(f"Query parameter q is: {q}")
        await websocket.send_text(f"Message text was: {data}, for item ID: {item_id}")
