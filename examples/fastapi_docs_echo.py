"""FastAPI's documentation tutorial "WebSockets", first example: ``/ws`` answers every
message with ``Message text was: {message}``, and there is no bye word.

Written the way the tutorial writes it (``receive_text`` in an endless loop; the tutorial's
HTML page is left out). Described by ``fastapi_docs_echo.toml``, it passes every MUST check.
It fails two SHOULD checks, reported as warnings unless the run is strict:

* ``robust.binary`` — ``receive_text()`` on a binary message raises ``KeyError`` instead of
  closing with 1003;
* ``robust.disconnect`` — when the client goes away, ``receive_text()`` raises
  ``WebSocketDisconnect`` and nothing catches it (the tutorial's later section "Handling
  disconnections" adds the ``try``/``except``).

Check it with ``wscheck run --app examples.fastapi_docs_echo:app --spec
examples/fastapi_docs_echo.toml`` from the repository root.
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Message text was: {data}")
