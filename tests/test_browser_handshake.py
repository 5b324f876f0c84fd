"""The handshake a browser sends, and what a server may select in its answer.

Every browser sends an ``Origin`` header and most other clients none; protocol ``/ws`` 1 says
both are accepted, so ``echo.accept`` asks both ways (and ``auth.token`` on the credentials
endpoint, which browsers reach too) and both drivers can send it (the ASGI
scope's headers in-process, the request over the network). An accept selecting a subprotocol
or an extension the client never offered is a connection the client must fail (RFC 6455
§4.1): over the network the driver checks the ``101`` answer, in-process the
``websocket.accept`` message. Each defect is a broken app failing ``echo.accept``, in-process
(the kill matrix) and over uvicorn (here); correct apps pass.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from tests.raw_servers import raw_server, read_request, read_until_gone
from tests.verdicts import asgi_verdicts, url_verdicts
from wscheck.core.events import Accepted, TransportError
from wscheck.drivers.asgi import AsgiDriver
from wscheck.drivers.url import UrlDriver

RFC = "RFC 6455 §4.1: the client must fail the connection"


class _Recorder:
    """An ASGI app that keeps every WebSocket scope's headers and accepts."""

    def __init__(self, accept: dict[str, Any] | None = None) -> None:
        self.headers: list[dict[bytes, bytes]] = []
        self.accept = accept or {}
        self.after_accept: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        self.headers.append(dict(scope["headers"]))
        await receive()
        await send({"type": "websocket.accept", **self.accept})
        self.after_accept.append((await receive())["type"])


async def _asgi_handshakes(app: _Recorder) -> list[object]:
    driver = AsgiDriver(app, timeout=2.0)
    try:
        seen = []
        for origin in (False, True):
            conn = await driver.connect("/ws", origin=origin)
            seen.append(conn.handshake)
            await conn.close()
        return seen
    finally:
        await driver.aclose()


def test_in_process_the_origin_header_is_sent_only_when_asked() -> None:
    app = _Recorder()
    assert asyncio.run(_asgi_handshakes(app)) == [Accepted(), Accepted()]
    without, with_origin = app.headers
    assert b"origin" not in without
    assert with_origin[b"origin"] == b"http://testserver"  # the scope's own host


def test_over_the_network_the_origin_is_the_targets_own() -> None:
    requests: list[dict[str, str]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await read_request(reader))
        writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        await read_until_gone(reader)

    async def run(address: str) -> None:
        driver = UrlDriver(f"ws://{address}/prefix", timeout=2.0)
        try:
            for origin in (False, True):
                await (await driver.connect("/ws", origin=origin)).close()
        finally:
            await driver.aclose()

    with raw_server(handler) as address:  # type: ignore[arg-type]
        asyncio.run(run(address))
    assert len(requests) == 2
    assert "origin" not in requests[0]
    assert requests[1]["origin"] == f"http://{address}"  # no path prefix in an origin


@pytest.mark.parametrize(("accept", "problem"), [
    ({"subprotocol": "chat"},
     f"the app accepted with subprotocol 'chat', a subprotocol the client never asked for "
     f"({RFC})"),
    ({"headers": [(b"Sec-WebSocket-Extensions", b"permessage-deflate")]},
     "the app accepted with Sec-WebSocket-Extensions: 'permessage-deflate' in its headers, an "
     f"extension the client never offered ({RFC})"),
    ({"headers": [(b"sec-websocket-protocol", b"chat")]},
     "the app accepted with Sec-WebSocket-Protocol: 'chat' in its headers, a subprotocol the "
     f"client never asked for ({RFC})"),
])
def test_in_process_an_accept_selecting_what_was_never_offered_fails(
        accept: dict[str, Any], problem: str) -> None:
    app = _Recorder(accept)
    assert asyncio.run(_asgi_handshakes(app)) == [TransportError(problem)] * 2
    # The client failed the connection: the app's next receive says it is gone.
    assert app.after_accept == ["websocket.disconnect"] * 2


def test_in_process_an_accept_with_other_headers_or_none_selected_is_accepted() -> None:
    app = _Recorder({"subprotocol": None, "headers": [(b"x-served-by", b"test"),
                                                       (b"sec-websocket-extensions", b" ")]})
    assert asyncio.run(_asgi_handshakes(app)) == [Accepted(), Accepted()]


@pytest.mark.parametrize("name", ["refuses_browsers", "browsers_only", "unasked_subprotocol",
                                  "unoffered_extension"])
def test_over_uvicorn_the_broken_handshakes_fail_echo_accept(name: str) -> None:
    """The same defects through a real server: uvicorn turns a close before accept into a
    403 and writes the accept's subprotocol and headers into its ``101``."""
    app = importlib.import_module(f"tests.broken.{name}").app
    assert url_verdicts(app, only=["echo.accept"]) == {"echo.accept": "fail"}
    assert asgi_verdicts(app, only=["echo.accept"]) == {"echo.accept": "fail"}


def test_correct_apps_accept_both_handshakes_in_process_and_over_uvicorn() -> None:
    from reference_app import app
    from tests.implementations.raw_asgi import ChatApp

    handshakes = {"echo.accept": "pass", "auth.token": "pass"}
    for correct in (app, ChatApp()):
        assert url_verdicts(correct, only=handshakes) == handshakes
        assert asgi_verdicts(correct, only=handshakes) == handshakes


def test_browsers_refused_on_the_credentials_endpoint_fail_auth_token_both_ways() -> None:
    """Browsers reach ``/item/ws`` too: auth.token, which owns its handshake, asks with a
    valid token and the Origin header as well, and says that header is what was refused
    (the checks whose clients send none are served and pass, see the kill matrix)."""
    from tests.broken.refuses_browsers_on_item import app
    from tests.verdicts import run_checks
    from wscheck.checks.judging import format_failure
    from wscheck.core.spec import Spec

    only = ["auth.token", "echo.accept", "auth.cookie", "auth.missing"]
    expected = {"auth.token": "fail", "echo.accept": "pass", "auth.cookie": "pass",
                "auth.missing": "pass"}
    assert url_verdicts(app, only=only) == expected
    assert asgi_verdicts(app, only=only) == expected

    async def failure() -> str:
        driver = AsgiDriver(app, timeout=2.0)
        try:
            chk, verdict = (await run_checks(driver, Spec(), only=["auth.token"]))["auth.token"]
        finally:
            await driver.aclose()
        assert verdict is not None
        return format_failure(chk, verdict)

    text = asyncio.run(failure())
    assert "a client with a token and the Origin header a browser sends was not served" in text
    assert "connect /item/ws?token=some-token  with the Origin header a browser sends" in text


def test_in_process_accept_headers_that_are_not_byte_pairs_break_the_asgi_protocol() -> None:
    from wscheck.core.events import ProtocolViolation

    app = _Recorder({"headers": [("sec-websocket-extensions", "permessage-deflate")]})
    assert asyncio.run(_asgi_handshakes(app)) == [ProtocolViolation(
        "the app sent 'websocket.accept' headers that are not [name, value] byte pairs")] * 2


@pytest.mark.parametrize("name", ["refuses_browsers", "refuses_browsers_on_item"])
def test_the_state_machine_opens_browser_connections_and_shows_them(name: str) -> None:
    """prop.stateful draws the Origin header per connection: a server refusing browsers on
    either endpoint makes a connection with the header diverge, and the failure shows that
    connection's handshake with the header, in its conversation and in the steps."""
    from tests.verdicts import derandomized, run_checks
    from wscheck.checks.judging import format_failure
    from wscheck.core.spec import Spec

    app = importlib.import_module(f"tests.broken.{name}").app

    async def run() -> tuple[str, bool]:
        driver = AsgiDriver(app, timeout=2.0)
        try:
            with derandomized():
                chk, verdict = (await run_checks(driver, Spec(), examples=15,
                                                 only=["prop.stateful"]))["prop.stateful"]
        finally:
            await driver.aclose()
        assert verdict is not None and verdict.problem is not None
        assert verdict.observation is not None
        return format_failure(chk, verdict), verdict.observation.conversation.origin

    text, origin = asyncio.run(run())
    assert origin, text
    assert "with the Origin header a browser sends" in text
