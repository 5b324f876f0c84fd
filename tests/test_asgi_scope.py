"""The scopes the in-process driver hands an app are the ones an ASGI server hands it: a raw
ASGI app records the lifespan and WebSocket scopes uvicorn gives it over loopback (with both of
uvicorn's WebSocket implementations), and the same app in-process must get the same keys, with
values of the same types, and the same values where the request is the same.

Frameworks read these keys and refuse what they miss: Falcon stops at a lifespan scope
without ``asgi.version`` 3 ("Falcon requires ASGI version 3.x. Detected: 2.0").
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from tests.servers import serve_uvicorn
from wscheck.drivers.asgi import AsgiDriver, Receive, Send, lifespan
from wscheck.drivers.url import UrlDriver

PATH = "/item/ws"
QUERY = (("token", "t1"), ("q", "5"))  # spelt alike by both clients
COOKIES = (("session", "s1"),)

#: Keys whose values must be equal for the same request, not only of the same type.
SAME_VALUE = ("type", "asgi", "http_version", "scheme", "root_path", "path", "raw_path",
              "query_string", "subprotocols", "state", "extensions")

#: What a WebSocket handshake request always carries (RFC 6455 §4.1), by either client.
HANDSHAKE_HEADERS = {b"host", b"upgrade", b"connection", b"sec-websocket-key",
                     b"sec-websocket-version", b"cookie"}


class Recorder:
    """A raw ASGI app that keeps a copy of each scope it gets, by type: it completes the
    lifespan, and accepts a WebSocket and closes it normally."""

    def __init__(self) -> None:
        self.scopes: dict[str, dict[str, Any]] = {}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive,
                       send: Send) -> None:
        self.scopes[scope["type"]] = dict(scope)
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})


async def _connect_once(driver: AsgiDriver | UrlDriver) -> None:
    try:
        conn = await driver.connect(PATH, QUERY, COOKIES)
        await conn.receive()
        await conn.close()
    finally:
        await driver.aclose()


def over_uvicorn(ws: str) -> dict[str, dict[str, Any]]:
    recorder = Recorder()
    with serve_uvicorn(recorder, ws=ws, lifespan="on") as address:
        asyncio.run(_connect_once(UrlDriver(f"ws://{address}", timeout=5.0)))
    return recorder.scopes


def in_process() -> dict[str, dict[str, Any]]:
    recorder = Recorder()

    async def run() -> None:
        async with lifespan(recorder) as wrapped:
            await _connect_once(AsgiDriver(wrapped, timeout=5.0))

    asyncio.run(run())
    return recorder.scopes


def _shape(value: object) -> object:
    """The type of a value, and of what it holds (a dict's keys and a list's items)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, sorted({str(_shape(v)) for v in value}))
    return type(value).__name__


@pytest.fixture(scope="module")
def kit_scopes() -> dict[str, dict[str, Any]]:
    return in_process()


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto"])
def test_scopes_are_what_uvicorn_hands_the_app(
        ws: str, kit_scopes: dict[str, dict[str, Any]]) -> None:
    served = over_uvicorn(ws)
    assert set(served) == set(kit_scopes) == {"lifespan", "websocket"}
    for kind in ("lifespan", "websocket"):
        ours, theirs = kit_scopes[kind], served[kind]
        assert sorted(ours) == sorted(theirs), kind
        assert {k: _shape(v) for k, v in ours.items()} == \
            {k: _shape(v) for k, v in theirs.items()}, kind
        for key in SAME_VALUE:
            if key in theirs:
                if key == "asgi":  # the ASGI spec revision each server implements differs
                    assert ours[key]["version"] == theirs[key]["version"] == "3.0", kind
                    assert set(ours[key]) == set(theirs[key]), kind
                else:
                    assert ours[key] == theirs[key], (kind, key)
    for scope in (kit_scopes["websocket"], served["websocket"]):
        assert {name for name, _ in scope["headers"]} >= HANDSHAKE_HEADERS
