"""Small reference servers for the AsyncAPI project's WebSocket examples, and mutants of them.

``kraken_app()`` serves both Kraken documents (one channel at ``/``; the multiple-channels
variant names the same messages by other channels), ``gemini_app()`` the Gemini market data
one. Each ``defect`` breaks one thing the document says, so that the kit must fail the server
for that reason (tests/test_asyncapi_examples.py says which check).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

__all__ = ["GEMINI_DEFECTS", "KRAKEN_DEFECTS", "gemini_app", "kraken_app"]

KRAKEN_DEFECTS = (
    "missing-field",  # subscriptionStatus without channelName (required on success)
    "wrong-type",  # pong's reqid as a string (an integer in the schema)
    "wrong-enum",  # systemStatus with a status not in the enum
    "wrong-channel",  # ping answered with a subscriptionStatus instead of a pong
    "crosstalk",  # every pong goes to every client connected
    "binary",  # pong sent as a binary message
)
GEMINI_DEFECTS = ("wrong-type", "wrong-enum")


def kraken_app(defect: str | None = None) -> FastAPI:
    """A Kraken-like server: systemStatus and a heartbeat on connect, then ping → pong,
    subscribe/unsubscribe → subscriptionStatus, each carrying the request's reqid."""
    app = FastAPI()
    clients: set[WebSocket] = set()

    def status(request: dict[str, Any], state: str) -> dict[str, Any]:
        reply: dict[str, Any] = {"event": "subscriptionStatus", "channelID": 42,
                                 "channelName": "ticker", "status": state,
                                 "subscription": request.get("subscription") or {"name": "ticker"}}
        if defect == "missing-field" and request.get("event") == "subscribe":
            del reply["channelName"]
        for key in ("reqid", "pair"):
            if key in request:
                reply[key] = request[key]
        return reply

    @app.websocket("/")
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        clients.add(ws)
        try:
            await ws.send_json({"event": "systemStatus", "connectionID": 8628615390848610000,
                                "status": "bogus" if defect == "wrong-enum" else "online",
                                "version": "1.0.0"})
            await ws.send_json({"event": "heartbeat"})
            while True:
                try:
                    request = json.loads(await ws.receive_text())
                except ValueError:
                    continue
                if not isinstance(request, dict):
                    continue
                event = request.get("event")
                if event == "ping":
                    if defect == "wrong-channel":
                        await ws.send_json(status({"subscription": {"name": "ticker"}},
                                                  "online"))
                        continue
                    pong: dict[str, Any] = {"event": "pong"}
                    if "reqid" in request:
                        pong["reqid"] = (str(request["reqid"]) if defect == "wrong-type"
                                         else request["reqid"])
                    if defect == "binary":
                        await ws.send_bytes(json.dumps(pong).encode())
                        continue
                    for client in (list(clients) if defect == "crosstalk" else [ws]):
                        await client.send_json(pong)
                elif event == "subscribe" or event == "unsubscribe":
                    await ws.send_json(status(request, "online"))
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(ws)

    return app


def gemini_app(defect: str | None = None) -> FastAPI:
    """A Gemini-like market data server: on connect, the order book's initial update, then a
    heartbeat; it reads nothing."""
    app = FastAPI()

    @app.websocket("/v1/marketdata/{symbol}")
    async def endpoint(ws: WebSocket, symbol: str) -> None:
        await ws.accept()
        event = {"type": "change", "side": "oops" if defect == "wrong-enum" else "bid",
                 "price": 2.5, "remaining": 0.002, "delta": 0.002, "reason": "initial"}
        await ws.send_json({"type": "update", "eventId": 5375461993, "timestamp": 1547759967,
                            "timestampms": 1547759967903, "socket_sequence": 0,
                            "events": [event]})
        await ws.send_json({"type": "heartbeat",
                            "socket_sequence": "1" if defect == "wrong-type" else 1})
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass

    return app
