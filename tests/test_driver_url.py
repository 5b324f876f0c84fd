"""The network driver against real servers on 127.0.0.1.

ASGI apps run under uvicorn (what users will point the kit at); behaviour uvicorn never shows
(a close frame without a code, a TCP drop, a broken frame, fragments, pings, a server that
never answers) comes from small asyncio servers that speak the wire protocol with wsproto.
Every wait is bounded, so a regression fails a test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wsproto
import wsproto.events as we
from wsproto.frame_protocol import CloseReason, Opcode

from tests.servers import capture_logs, free_port, make_test_ca, serve_uvicorn
from wscheck.core.events import (
    Accepted,
    Binary,
    Closed,
    Conversation,
    Refused,
    Silence,
    Text,
    TransportError,
)
from wscheck.drivers.base import Connection, Driver, TargetUnreachable
from wscheck.drivers.url import UrlDriver, parse_target_url
from wscheck.errors import SettingError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- ASGI apps ------------------------------------------------------------------------------


class Recorder:
    """An ASGI app wrapper that records the code of every ``websocket.disconnect`` it sees."""

    def __init__(self) -> None:
        self.disconnects: list[int] = []

    def wait_for_disconnect(self, timeout: float = 3.0) -> int:
        deadline = time.monotonic() + timeout
        while not self.disconnects:
            if time.monotonic() > deadline:
                raise AssertionError("the server never saw the client go")
            time.sleep(0.01)
        return self.disconnects[0]


def echo_app(recorder: Recorder) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                recorder.disconnects.append(message.get("code", 1000))
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": "echo:" + message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})

    return app


async def refuse_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close", "code": 1008})


async def close_1008_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1008, "reason": "no credentials"})


async def binary_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "bytes": b"\x00\xff binary"})
        await receive()  # stays open until the client goes


async def silent_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await receive()


async def scope_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends back, as binary messages, exactly what reached the app: path, raw query string,
    raw Cookie header (so the test sees bytes, not a framework's parsing of them)."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    cookie = b"\n".join(v for k, v in scope["headers"] if k == b"cookie")
    for item in (scope["path"].encode(), scope["query_string"], cookie):
        await send({"type": "websocket.send", "bytes": item})
    await receive()


@contextlib.asynccontextmanager
async def url_driver(address: str, **options: Any) -> AsyncIterator[UrlDriver]:
    options.setdefault("timeout", 2.0)
    driver = UrlDriver(f"ws://{address}", **options)
    try:
        yield driver
    finally:
        await driver.aclose()


# --- raw servers: the wire as uvicorn never shows it ----------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """An asyncio TCP server on a free loopback port running ``handler`` per connection."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(server.wait_closed(), 5)


ScriptedWs = Callable[[asyncio.StreamReader, asyncio.StreamWriter, wsproto.WSConnection],
                      Awaitable[None]]


def ws_handler(script: ScriptedWs) -> Handler:
    """Do the server side of the handshake with wsproto, then run ``script``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data, "client went away during the handshake"
            ws.receive_data(data)
            if any(isinstance(e, we.Request) for e in ws.events()):
                break
        writer.write(ws.send(we.AcceptConnection()))
        await writer.drain()
        await script(reader, writer, ws)

    return handler


async def next_ws_events(reader: asyncio.StreamReader, ws: wsproto.WSConnection,
                         ) -> list[we.Event]:
    """Read until wsproto yields something (or the client closes TCP: empty list)."""
    while True:
        data = await asyncio.wait_for(reader.read(65536), 5)
        if not data:
            return []
        ws.receive_data(data)
        events = list(ws.events())
        if events:
            return events


# --- URL parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://x", "must start with ws:// or wss://, got 'http://x'"),
        ("https://example.com/ws", "must start with ws:// or wss://"),
        ("127.0.0.1:8000", "write it as ws://127.0.0.1:8000"),
        ("ws://", "needs a host"),
        ("ws:///prefix", "needs a host"),
        ("ws://h:abc", "not a valid URL"),
        ("ws://h:99999", "port out of range"),
        ("ws://h:1/x?token=1", "must not carry a query string"),
    ],
)
def test_bad_target_urls_say_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(SettingError, match="--wscheck-url") as info:
        parse_target_url(url)
    message = str(info.value)
    assert problem in message
    assert "\n" not in message


def test_good_target_urls() -> None:
    assert parse_target_url("ws://127.0.0.1:8000").port == 8000
    assert parse_target_url("wss://example.com/api").path == "/api"
    with pytest.raises(SettingError):
        UrlDriver("http://127.0.0.1:1")


def test_url_joins_prefix_and_keeps_query_order() -> None:
    driver = UrlDriver("ws://127.0.0.1:1/api/")
    url = driver.url_for("/ws", [("token", ""), ("q", "1"), ("token", "2")])
    assert str(url) == "ws://127.0.0.1:1/api/ws?token=&q=1&token=2"
    assert str(UrlDriver("ws://h:1").url_for("/item/ws")) == "ws://h:1/item/ws"
    with pytest.raises(ValueError, match="must start with '/'"):
        driver.url_for("ws")


# --- handshakes -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_driver_and_connection_satisfy_the_protocols() -> None:
    recorder = Recorder()
    with serve_uvicorn(echo_app(recorder)) as address:
        async with url_driver(address) as driver:
            assert isinstance(driver, Driver)
            assert driver.kind == "url"
            assert driver.target == f"ws://{address}"
            connection = await driver.connect("/ws")
            assert isinstance(connection, Connection)
            await connection.close()


@pytest.mark.asyncio
async def test_echo_text_and_binary_then_client_close_is_seen_as_1000() -> None:
    recorder = Recorder()
    with serve_uvicorn(echo_app(recorder)) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/ws")
            assert connection.handshake == Accepted()
            await connection.send_text("hi 你好")
            assert await connection.receive() == Text("echo:hi 你好")
            await connection.send_bytes(b"\x00\x01")
            assert await connection.receive() == Binary(b"\x00\x01")
            await connection.send_text("")
            assert await connection.receive() == Text("echo:")
            assert await connection.quiet(0.05) is None
            await connection.close()
        assert recorder.wait_for_disconnect() == 1000
        assert await connection.receive(0.01) == Closed(1000)


@pytest.mark.asyncio
async def test_client_close_code_reaches_the_server() -> None:
    recorder = Recorder()
    with serve_uvicorn(echo_app(recorder)) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/ws")
            await connection.close(4000)
        assert recorder.wait_for_disconnect() == 4000


@pytest.mark.asyncio
async def test_pipelined_and_large_messages_arrive_whole_and_in_order() -> None:
    recorder = Recorder()
    big = "界" * 70_000  # ~205 KB of UTF-8: several socket reads, split multibyte chars
    with serve_uvicorn(echo_app(recorder)) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/ws")
            for i in range(50):
                await connection.send_text(str(i))
            await connection.send_text(big)
            await connection.send_bytes(bytes(range(256)) * 400)
            for i in range(50):
                assert await connection.receive() == Text(f"echo:{i}")
            assert await connection.receive() == Text("echo:" + big)
            assert await connection.receive() == Binary(bytes(range(256)) * 400)
            await connection.close()


@pytest.mark.asyncio
async def test_close_before_accept_is_refused_with_403() -> None:
    with serve_uvicorn(refuse_app) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/item/ws")
            assert connection.handshake == Refused(status=403)
            # A refused connection: sends are ignored, receive repeats the refusal, quiet has
            # nothing new to say, close and drop do nothing.
            await connection.send_text("ignored")
            assert await connection.receive() == Refused(status=403)
            assert await connection.quiet() is None
            await connection.close()
            await connection.drop()


@pytest.mark.asyncio
async def test_accept_then_close_1008_is_final_and_sticky() -> None:
    with serve_uvicorn(close_1008_app) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/item/ws")
            assert connection.handshake == Accepted()
            closed = await connection.receive()
            assert closed == Closed(1008)
            assert isinstance(closed, Closed)
            assert closed.reason == "no credentials"
            started = time.monotonic()
            assert await connection.receive() == Closed(1008)
            assert await connection.receive(5) == Closed(1008)
            assert time.monotonic() - started < 2.5  # not the 5 s wait: the close is final
            assert await connection.quiet() is None
            await connection.send_text("too late")  # must not raise
            await connection.send_bytes(b"too late")
            await connection.close()
            assert await connection.receive() == Closed(1008)


@pytest.mark.asyncio
async def test_server_binary_message() -> None:
    with serve_uvicorn(binary_app) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/ws")
            assert await connection.receive() == Binary(b"\x00\xff binary")
            await connection.close()


@pytest.mark.asyncio
async def test_silent_server_gives_silence_in_bounded_time() -> None:
    with serve_uvicorn(silent_app) as address:
        async with url_driver(address, timeout=2.0, quiet_window=0.1) as driver:
            connection = await driver.connect("/ws")
            started = time.monotonic()
            assert await connection.receive() == Silence(2.0)
            assert 1.9 < time.monotonic() - started < 10.0
            # Waits of their own length, not the driver's timeout (5x margin on 0.2 s).
            started = time.monotonic()
            assert await connection.receive(0.1) == Silence(0.1)
            assert await connection.quiet() is None
            assert time.monotonic() - started < 1.0
            await connection.close()


@pytest.mark.asyncio
async def test_quiet_returns_the_event_and_does_not_queue_it_again() -> None:
    recorder = Recorder()
    with serve_uvicorn(echo_app(recorder)) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/ws")
            await connection.send_text("a")
            await connection.send_text("b")
            assert await connection.quiet(2) == Text("echo:a")
            assert await connection.receive() == Text("echo:b")
            assert await connection.quiet(0.05) is None
            await connection.close()


@pytest.mark.asyncio
async def test_prefix_path_query_and_cookies_reach_the_app_as_sent() -> None:
    with serve_uvicorn(scope_app) as address:
        driver = UrlDriver(f"ws://{address}/api/", timeout=2)
        try:
            connection = await driver.connect(
                "/item/ws",
                query=[("token", ""), ("q", "é & x=1"), ("token", "2"), ("a b", "+")],
                cookies=[("session", ""), ("lang", "中文"), ("a", "b=c")],
            )
            assert connection.handshake == Accepted()
            assert await connection.receive() == Binary(b"/api/item/ws")
            assert await connection.receive() == Binary(
                b"token=&q=%C3%A9+%26+x%3D1&token=2&a+b=%2B"
            )
            assert await connection.receive() == Binary(
                "session=; lang=中文; a=b=c".encode()
            )
            await connection.close()

            bare = await driver.connect("/ws")
            assert await bare.receive() == Binary(b"/api/ws")
            assert await bare.receive() == Binary(b"")
            assert await bare.receive() == Binary(b"")  # no Cookie header at all
            await bare.close()
        finally:
            await driver.aclose()


@pytest.mark.asyncio
async def test_cookies_set_by_a_server_are_not_sent_back() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        requests.append(request)
        writer.write(b"HTTP/1.1 403 Forbidden\r\nSet-Cookie: session=leak; Path=/\r\n"
                     b"Content-Length: 0\r\n\r\n")
        await writer.drain()

    requests: list[bytes] = []
    async with raw_server(answer) as address, url_driver(address) as driver:
        for _ in range(2):
            assert (await driver.connect("/ws")).handshake == Refused(status=403)
    assert len(requests) == 2
    assert b"cookie" not in requests[1].lower().replace(b"set-cookie", b"")


def test_cookie_values_that_would_split_the_header_are_refused() -> None:
    driver = UrlDriver("ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="cannot be sent in a Cookie header"):
        asyncio.run(driver.connect("/ws", cookies=[("session", "a; b")]))
    with pytest.raises(ValueError, match="cannot be sent in a Cookie header"):
        asyncio.run(driver.connect("/ws", cookies=[("bad name", "x")]))


@pytest.mark.asyncio
async def test_many_simultaneous_connections_are_not_capped_by_the_pool() -> None:
    recorder = Recorder()
    with serve_uvicorn(echo_app(recorder)) as address:
        async with url_driver(address) as driver:
            connections = await asyncio.wait_for(
                asyncio.gather(*(driver.connect("/ws") for _ in range(120))), 20
            )
            assert all(c.handshake == Accepted() for c in connections)
            for i, c in enumerate(connections):
                await c.send_text(str(i))
            for i, c in enumerate(connections):
                assert await c.receive() == Text(f"echo:{i}")
            # left open on purpose: the driver's aclose releases them


# --- drop -------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # legacy websockets, in uvicorn
@pytest.mark.filterwarnings("ignore::uvicorn.config.UvicornDeprecationWarning")
@pytest.mark.parametrize("ws_impl", ["websockets-sansio", "websockets", "wsproto"])
async def test_drop_is_seen_by_the_server_as_a_disconnect_without_errors(ws_impl: str) -> None:
    # uvicorn reports a TCP drop after the handshake as 1005 in its wsproto and
    # websockets-sansio implementations and as 1006 in the legacy websockets one; either way
    # not the 1000 of a closing handshake. The raw-server test below shows no close frame.
    recorder = Recorder()
    with capture_logs() as records, serve_uvicorn(echo_app(recorder), ws=ws_impl) as address:
        async with url_driver(address) as driver:
            connection = await driver.connect("/ws")
            await connection.send_text("x")
            assert await connection.receive() == Text("echo:x")
            await connection.send_text("unread reply")
            await asyncio.sleep(0.05)  # the reply sits unread in the socket when it is reset
            await connection.drop()
            event = await connection.receive(0.01)
            assert isinstance(event, TransportError)
            await connection.send_text("after drop")  # ignored, no exception
            assert await connection.quiet() is None
            assert recorder.wait_for_disconnect() in (1005, 1006)
    assert not [r for r in records if r.levelname in ("ERROR", "CRITICAL")], records


@pytest.mark.asyncio
async def test_drop_sends_no_close_frame() -> None:
    seen: list[list[we.Event]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        with contextlib.suppress(ConnectionError):
            seen.append(await next_ws_events(reader, ws))
        done.set()

    done = asyncio.Event()
    async with raw_server(ws_handler(script)) as address, url_driver(address) as driver:
        connection = await driver.connect("/ws")
        await connection.drop()
        await asyncio.wait_for(done.wait(), 5)
    assert seen in ([], [[]])  # a reset (ConnectionError) or end of stream, never a close


# --- the wire as uvicorn never shows it -------------------------------------------------------


async def _run_script(script: ScriptedWs, timeout: float = 2.0) -> list[Any]:
    """Connect to a scripted server and collect events until the final one."""
    async with raw_server(ws_handler(script)) as address, url_driver(
        address, timeout=timeout
    ) as driver:
        connection = await driver.connect("/ws")
        assert connection.handshake == Accepted()
        events: list[Any] = []
        for _ in range(10):
            event = await connection.receive()
            events.append(event)
            if not isinstance(event, Text | Binary):
                break
        await connection.close()
        return events


@pytest.mark.asyncio
async def test_close_frame_without_code_is_1005_and_is_answered() -> None:
    replies: list[list[we.Event]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        # wsproto sends an empty close frame for this member (not for the int 1005).
        writer.write(ws.send(we.CloseConnection(CloseReason.NO_STATUS_RCVD)))
        await writer.drain()
        replies.append(await next_ws_events(reader, ws))

    assert await _run_script(script) == [Closed(1005)]
    assert [type(e) for e in replies[0]] == [we.CloseConnection]


@pytest.mark.asyncio
async def test_server_close_is_answered_with_the_same_code() -> None:
    replies: list[list[we.Event]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        writer.write(ws.send(we.TextMessage("bye")) + ws.send(we.CloseConnection(1001, "away")))
        await writer.drain()
        replies.append(await next_ws_events(reader, ws))

    events = await _run_script(script)
    assert events == [Text("bye"), Closed(1001)]
    assert events[1].reason == "away"
    reply = replies[0][0]
    assert isinstance(reply, we.CloseConnection)
    assert reply.code == 1001


@pytest.mark.asyncio
async def test_tcp_end_without_close_frame_is_a_transport_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        writer.write(ws.send(we.TextMessage("last words")))
        await writer.drain()
        # the handler's finally closes the socket: FIN, no close frame

    events = await _run_script(script)
    assert events[0] == Text("last words")
    assert isinstance(events[1], TransportError)
    assert "without a close frame (1006)" in events[1].problem


@pytest.mark.asyncio
async def test_fragmented_messages_are_reassembled_and_pings_answered() -> None:
    pongs: list[list[we.Event]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        writer.write(ws.send(we.TextMessage("frag", message_finished=False)))
        writer.write(ws.send(we.Ping(b"p1")))  # a control frame between fragments
        await writer.drain()
        pongs.append(await next_ws_events(reader, ws))
        writer.write(ws.send(we.TextMessage("mented 片", message_finished=True)))
        writer.write(ws.send(we.BytesMessage(b"\x01", message_finished=False)))
        writer.write(ws.send(we.BytesMessage(b"\x02", message_finished=True)))
        writer.write(ws.send(we.CloseConnection(1000)))
        await writer.drain()
        await next_ws_events(reader, ws)

    assert await _run_script(script) == [Text("fragmented 片"), Binary(b"\x01\x02"), Closed(1000)]
    assert pongs == [[we.Pong(b"p1")]]


@pytest.mark.asyncio
async def test_unsolicited_pong_is_ignored() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        writer.write(ws.send(we.Pong(b"heartbeat")) + ws.send(we.TextMessage("still here")))
        writer.write(ws.send(we.CloseConnection(1000)))
        await writer.drain()
        await next_ws_events(reader, ws)

    assert await _run_script(script) == [Text("still here"), Closed(1000)]


@pytest.mark.asyncio
async def test_broken_framing_is_reported_not_raised() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        # An unmasked text frame whose payload is not UTF-8.
        writer.write(bytes([0x80 | Opcode.TEXT, 2]) + b"\xff\xfe")
        await writer.drain()
        await next_ws_events(reader, ws)

    events = await _run_script(script)
    assert len(events) == 1
    assert isinstance(events[0], TransportError)
    assert "1007" in events[0].problem


@pytest.mark.asyncio
async def test_broken_frame_in_reply_to_a_client_close_is_reported() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        await next_ws_events(reader, ws)  # the client's close
        writer.write(bytes([0x80 | Opcode.CLOSE, 1]) + b"\x03")  # a 1-byte close payload
        await writer.drain()
        await asyncio.sleep(1)

    async with raw_server(ws_handler(script)) as address, url_driver(address) as driver:
        connection = await driver.connect("/ws")
        await connection.close()
        event = await connection.receive()
        assert isinstance(event, TransportError)
        assert "broke the WebSocket framing" in event.problem


@pytest.mark.asyncio
async def test_server_reset_is_a_transport_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    events = await _run_script(script)
    assert len(events) == 1
    assert isinstance(events[0], TransportError)
    assert "1006" in events[0].problem


@pytest.mark.asyncio
async def test_client_close_without_reply_is_bounded() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        await asyncio.sleep(10)  # reads nothing, answers nothing

    async with raw_server(ws_handler(script)) as address, url_driver(
        address, timeout=0.3
    ) as driver:
        connection = await driver.connect("/ws")
        started = time.monotonic()
        await connection.close()
        assert time.monotonic() - started < 3.0  # the 0.3 s timeout, not the 10 s silence
        event = await connection.receive()
        assert isinstance(event, TransportError)
        assert "no close frame in reply" in event.problem


# --- handshakes that go wrong -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_nothing_listening_raises_target_unreachable_quickly() -> None:
    port = free_port()  # free a moment ago, nobody binds it
    async with url_driver(f"127.0.0.1:{port}") as driver:
        started = time.monotonic()
        with pytest.raises(TargetUnreachable) as info:
            await driver.connect("/ws")
        assert time.monotonic() - started < 1.5  # a refusal is immediate; no 2 s timeout
    message = str(info.value)
    assert f"nothing is listening at ws://127.0.0.1:{port}" in message
    assert "connection refused" in message
    assert "--wscheck-url" in message
    assert "\n" not in message


@pytest.mark.asyncio
async def test_server_that_never_answers_the_handshake_is_silence() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async with raw_server(mute) as address, url_driver(address, timeout=0.3) as driver:
        started = time.monotonic()
        connection = await driver.connect("/ws")
        assert connection.handshake == Silence(0.3)
        assert 0.25 < time.monotonic() - started < 1.5
        assert await connection.receive() == Silence()
        await connection.send_text("ignored")
        await connection.close()


@pytest.mark.asyncio
async def test_http_200_to_the_upgrade_is_refused_200() -> None:
    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 5\r\n\r\nhello")
        await writer.drain()

    async with raw_server(ok) as address, url_driver(address) as driver:
        connection = await driver.connect("/ws")
        assert connection.handshake == Refused(status=200)


@pytest.mark.asyncio
async def test_connection_closed_during_the_handshake_is_a_transport_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)

    async with raw_server(hang_up) as address, url_driver(address) as driver:
        connection = await driver.connect("/ws")
        assert isinstance(connection.handshake, TransportError)
        assert await connection.receive() == connection.handshake


@pytest.mark.asyncio
async def test_wrong_accept_key_is_a_transport_error() -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(10)

    async with raw_server(liar) as address, url_driver(address) as driver:
        connection = await driver.connect("/ws")
        assert isinstance(connection.handshake, TransportError)
        assert "Sec-WebSocket-Accept" in connection.handshake.problem


# --- wss --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    yield make_test_ca(tmp_path_factory.mktemp("tls"))


@pytest.mark.asyncio
async def test_wss_with_a_private_ca(tls_files: dict[str, Path]) -> None:
    recorder = Recorder()
    with serve_uvicorn(echo_app(recorder), ssl_certfile=str(tls_files["cert"]),
                       ssl_keyfile=str(tls_files["key"])) as address:
        driver = UrlDriver(f"wss://{address}", verify=str(tls_files["ca"]))
        try:
            connection = await driver.connect("/ws")
            assert connection.handshake == Accepted()
            await connection.send_text("secure")
            assert await connection.receive() == Text("echo:secure")
            await connection.drop()
        finally:
            await driver.aclose()
        assert recorder.wait_for_disconnect() in (1005, 1006)

        # Without the CA the TLS handshake fails: an observation, not "nothing listening".
        strict = UrlDriver(f"wss://{address}")
        try:
            connection = await strict.connect("/ws")
            assert isinstance(connection.handshake, TransportError)
            assert "TLS" in connection.handshake.problem
        finally:
            await strict.aclose()


def test_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        UrlDriver("wss://127.0.0.1:1", verify=str(tmp_path / "nope.pem"))


@pytest.mark.asyncio
async def test_a_reply_longer_than_the_transcript_keeps_is_clipped_as_it_arrives() -> None:
    """A conversation's connection clips a long reply while it arrives, to exactly what its
    transcript would keep, and remembers its size; a bare connection keeps it whole."""
    from wscheck.core.limits import clip_kept
    from wscheck.run.conversation import Exchange, keep_limit

    big = "界" * (1 << 20)  # 3 MiB of UTF-8: many reads and frames

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ws: wsproto.WSConnection) -> None:
        while await next_ws_events(reader, ws):
            writer.write(ws.send(we.TextMessage(big[:1 << 19], message_finished=False)))
            writer.write(ws.send(we.TextMessage(big[1 << 19:])))
            await writer.drain()

    conversation = Conversation.of("/ws", "hi")
    async with raw_server(ws_handler(script)) as address, url_driver(address) as driver:
        ex = await Exchange.open(driver, conversation)
        assert ex.connection._frames.keep == keep_limit(conversation)  # type: ignore[attr-defined]
        await ex.connection.send_text("hi")
        await ex.read(1)
        reply = ex.observed[1]
        assert reply == Text(clip_kept(big))
        assert isinstance(reply, Text) and reply.original == (len(big), 3 * len(big))
        await ex.connection.close()
        bare = await driver.connect("/ws")
        await bare.send_text("hi")
        assert await bare.receive() == Text(big)
        await bare.close()
