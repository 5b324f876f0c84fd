"""The drivers bounded against hostile targets: every wait ends, memory stays bounded.

Network cases come from raw asyncio servers on 127.0.0.1 that break the wire in ways no ASGI
server would (a response dripped a byte at a time, a frame announcing 2^63-1 bytes);
in-process cases are ASGI apps that flood. Time bounds are wide on purpose (a loaded machine
must not make them flaky): what they catch is a wait with no end.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import wsproto
import wsproto.events as we

import wscheck.drivers._netconn as netconn
from wscheck.core.events import Accepted, Text, TransportError
from wscheck.drivers.url import UrlDriver

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

#: A generous bound on anything that must end after a timeout of 0.5 s or so.
WIDE = 15.0


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """An asyncio TCP server on a free loopback port running ``handler`` per connection."""
    tasks: set[asyncio.Task[Any]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client failed the connection, as it should
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(server.wait_closed(), 5)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The server side of a correct handshake (wsproto's)."""
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    ws.receive_data(await read_request(reader))
    assert any(isinstance(e, we.Request) for e in ws.events())
    writer.write(ws.send(we.AcceptConnection()))
    await writer.drain()


def frame_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """An unmasked server frame header announcing ``length`` bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return bytes([first, length])
    if length < 65536:
        return bytes([first, 126]) + struct.pack("!H", length)
    return bytes([first, 127]) + struct.pack("!Q", length)


# --- the handshake has one deadline ---------------------------------------------------------


async def drip_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 101 whose headers never end, one byte every 0.1 s: each read is quick, the whole
    never comes."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    for _ in range(10_000):
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.1)


async def endless_status_line(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
    """A status line that never ends, as fast as the client reads."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 101 ")
    for _ in range(100_000):
        writer.write(b"A" * 4096)
        await writer.drain()


@pytest.mark.asyncio
@pytest.mark.parametrize("handler", [drip_headers, endless_status_line])
async def test_a_handshake_that_never_completes_ends_in_time(handler: Handler) -> None:
    async with raw_server(handler) as url:
        driver = UrlDriver(url, timeout=0.5)
        started = time.monotonic()
        try:
            conn = await driver.connect("/ws")
        finally:
            await driver.aclose()
        elapsed = time.monotonic() - started
    assert isinstance(conn.handshake, TransportError), conn.handshake
    assert elapsed < WIDE
    if handler is drip_headers:
        assert "did not complete within 1.5s" in conn.handshake.problem


@pytest.mark.asyncio
async def test_the_handshake_deadline_is_a_parameter() -> None:
    async with raw_server(drip_headers) as url:
        driver = UrlDriver(url, timeout=0.5, handshake_timeout=0.8)
        try:
            conn = await driver.connect("/ws")
        finally:
            await driver.aclose()
    assert isinstance(conn.handshake, TransportError)
    assert "within 0.8s" in conn.handshake.problem


# --- messages have a maximum size -----------------------------------------------------------


async def announces_huge_frame(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
    """Announces a 2^63-1 byte binary frame, then streams its payload without end."""
    await accept(reader, writer)
    writer.write(frame_header(0x2, 2**63 - 1))
    chunk = b"\0" * 65536
    for _ in range(100_000):  # 6.5 GB if the client kept it all
        writer.write(chunk)
        await writer.drain()


@pytest.mark.asyncio
async def test_a_frame_announcing_more_than_the_limit_fails_at_its_header() -> None:
    async with raw_server(announces_huge_frame) as url:
        driver = UrlDriver(url, timeout=1.0)
        try:
            conn = await driver.connect("/ws")
            assert conn.handshake == Accepted()
            event = await conn.receive()
        finally:
            await driver.aclose()
    assert isinstance(event, TransportError), event
    assert f"message of {2**63 - 1} bytes" in event.problem
    assert f"limit of {16 * 1024 * 1024}" in event.problem
    assert "1009" in event.problem


def continuation_flood(frames: int, size: int) -> Handler:
    """A text message in ``frames`` fragments of ``size`` bytes each, the last one final."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept(reader, writer)
        for i in range(frames):
            opcode = 0x1 if i == 0 else 0x0
            writer.write(frame_header(opcode, size, fin=i == frames - 1) + b"a" * size)
            await writer.drain()
        await asyncio.sleep(30)

    return handler


@pytest.mark.asyncio
async def test_continuation_frames_count_towards_their_message() -> None:
    async with raw_server(continuation_flood(10, 40_000)) as url:
        driver = UrlDriver(url, timeout=1.0, max_message_size=100_000)
        try:
            conn = await driver.connect("/ws")
            event = await conn.receive()
        finally:
            await driver.aclose()
    assert isinstance(event, TransportError), event
    # The third fragment's header takes the message to 120,000 bytes.
    assert "message of 120000 bytes, over the client's limit of 100000" in event.problem


@pytest.mark.asyncio
async def test_a_message_within_the_limit_is_whole() -> None:
    async with raw_server(continuation_flood(10, 10_000)) as url:
        driver = UrlDriver(url, timeout=1.0, max_message_size=100_000)
        try:
            conn = await driver.connect("/ws")
            event = await conn.receive()
        finally:
            await driver.aclose()
    assert event == Text("a" * 100_000)


# --- in-process: a flood waits for the client, an oversized message fails the connection ---


async def floods(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accepts, then sends without end and without ever yielding of its own accord."""
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(10_000_000):
        await send({"type": "websocket.send", "text": "x" * 100})


async def sends_too_much(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "bytes": b"\0" * 200_001})
    sent.append((await receive())["code"])


sent: list[int] = []


@pytest.mark.asyncio
async def test_an_app_that_floods_is_stopped_with_a_flood_event() -> None:
    """Ten million unasked messages: the app is held at the backpressure bound, then the
    client calls it a flood, fails the connection with 1008, and the transcript ends with
    one ``Flooded`` counting what was never read, instead of holding any of it."""
    from wscheck.core.events import Accepted, Flooded, describe
    from wscheck.drivers._appside import MAX_UNREAD_MESSAGES
    from wscheck.drivers.asgi import AsgiDriver
    from wscheck.run.conversation import drain

    driver = AsgiDriver(floods, timeout=1.0)
    try:
        conn = await driver.connect("/ws")
        observed: list[Any] = [conn.handshake]
        await drain(conn, observed)
        assert not conn._events  # nothing of the flood is kept
        late = await conn.finish()
    finally:
        await driver.aclose()
    assert observed[0] == Accepted() and len(observed) == 2, observed[:3]
    flood = observed[1]
    # Held at the bound (the handshake's event, still unread, counts towards it).
    assert isinstance(flood, Flooded), flood
    assert MAX_UNREAD_MESSAGES <= flood.messages <= MAX_UNREAD_MESSAGES + 1, flood
    assert flood.size == 100 * flood.messages
    assert describe(flood) == (f"flood: {flood.messages} unasked messages ({flood.size} bytes), "
                               "unread; client left")
    # The app's next send after the client left raised into it (it does not handle that).
    assert late is not None and "ClientDisconnected" in str(late)


async def answers_each_message_four_times(scope: dict[str, Any], receive: Any,
                                          send: Any) -> None:
    """More than the protocol ever asks (3 replies a message), but never a backlog."""
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        for _ in range(4):
            await send({"type": "websocket.send", "text": message["text"]})


async def echoes(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message["text"]})


@pytest.mark.asyncio
async def test_a_backlog_the_conversation_asked_for_is_not_a_flood() -> None:
    """Many messages sent before reading any reply (pipelined) make a backlog beyond the
    backpressure bound: the app waits, every reply arrives, no flood. Too many replies per
    message without a backlog are extra messages, recorded as they are."""
    from wscheck.core.events import Flooded
    from wscheck.drivers._appside import MAX_UNREAD_MESSAGES
    from wscheck.drivers.asgi import AsgiDriver

    count = 3 * MAX_UNREAD_MESSAGES
    driver = AsgiDriver(echoes, timeout=2.0)
    try:
        conn = await driver.connect("/ws")
        for i in range(count):
            await conn.send_text(str(i))
        replies = [await conn.receive() for _ in range(count)]
        await conn.close()
    finally:
        await driver.aclose()
    driver = AsgiDriver(answers_each_message_four_times, timeout=2.0)
    try:
        four = await driver.connect("/ws")
        await four.send_text("m")
        extra = [await four.receive() for _ in range(4)]
        await four.close()
    finally:
        await driver.aclose()
    assert replies == [Text(str(i)) for i in range(count)]
    assert extra == [Text("m")] * 4
    assert not any(isinstance(e, Flooded) for e in replies + extra)


@pytest.mark.asyncio
async def test_an_in_process_message_over_the_limit_fails_the_connection_with_1009() -> None:
    from wscheck.drivers.asgi import AsgiDriver

    sent.clear()
    driver = AsgiDriver(sends_too_much, timeout=1.0, max_message_size=200_000)
    try:
        conn = await driver.connect("/ws")
        event = await conn.receive()
        await conn.finish()
    finally:
        await driver.aclose()
    assert isinstance(event, TransportError), event
    assert "message of 200001 bytes, over the client's limit of 200000" in event.problem
    assert sent == [1009]


# --- in-process: a run ends in bounded time whatever the app does to the loop ---------------

HOSTILE = '''
"""ASGI apps that attack the event loop the kit runs them on."""

import asyncio
import time


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def sleeps(scope, receive, send):
    """Blocks the loop in a call no exception interrupts."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    time.sleep(120)


async def spins(scope, receive, send):
    """A busy loop in async code."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    while True:
        pass


async def startup_blocks(scope, receive, send):
    await receive()
    time.sleep(120)


async def startup_interrupts(scope, receive, send):
    await receive()
    raise KeyboardInterrupt


async def stops_the_loop(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    asyncio.get_running_loop().stop()


_started = []


async def stubborn_task(scope, receive, send):
    """Starts a background task that ignores cancellation, then refuses every connection."""
    if scope["type"] == "lifespan":
        async def forever():
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    pass
        _started.append(asyncio.get_running_loop().create_task(forever()))
        return await _lifespan(receive, send)
    await receive()
    await send({"type": "websocket.close", "code": 1008})


async def background_interrupts(scope, receive, send):
    """Every connection starts a task that raises KeyboardInterrupt, then is refused."""
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)

    async def interrupt():
        raise KeyboardInterrupt

    asyncio.get_running_loop().create_task(interrupt())
    await receive()
    await asyncio.sleep(0)
    await send({"type": "websocket.close", "code": 1008})


async def shutdown_swallows(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass
    await receive()
    await send({"type": "websocket.close", "code": 1008})
'''


def run_kit(tmp_path: Any, app: str, *extra: str) -> tuple[int, str, float]:
    """``pytest --wscheck-app`` in a subprocess (a run may end the process), bounded."""
    import subprocess
    import sys

    (tmp_path / "hostile_loop.py").write_text(HOSTILE)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         f"--wscheck-app=hostile_loop:{app}", "--wscheck-timeout=0.5", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


#: A wide bound on a whole run whose watchdog acts after 5 s (10 s at the latest).
RUN_BOUND = 120.0


@pytest.mark.parametrize(("app", "fragments"), [
    ("spins", ["the app blocked the event loop for more than 5s",
               "hostile_loop.py", "in spins"]),
    # The watchdog's 5 s bound again, each (spins runs by default).
    pytest.param("sleeps", ["the app blocked the event loop for more than 5s", "in sleeps",
                            "time.sleep(120)", "did not give the loop back"],
                 marks=pytest.mark.slow),
    pytest.param("startup_blocks", ["the app blocked the event loop", "in startup_blocks"],
                 marks=pytest.mark.slow),
    ("startup_interrupts", ["lifespan startup failed: AppInterrupted: the app raised "
                            "KeyboardInterrupt"]),
    ("stops_the_loop", ["AppInterrupted: the app called loop.stop()"]),
    pytest.param("stubborn_task", ["the app's tasks ignored cancellation", "forever at",
                                   "hostile_loop.py"], marks=pytest.mark.slow),
    pytest.param("shutdown_swallows", ["ignored cancellation", "shutdown_swallows at"],
                 marks=pytest.mark.slow),
])
def test_a_run_against_an_app_that_attacks_the_loop_ends_with_a_message(
        tmp_path: Any, app: str, fragments: list[str]) -> None:
    status, output, elapsed = run_kit(tmp_path, app)
    assert status == 1, output
    for fragment in fragments:
        assert fragment in output, output
    assert "INTERNALERROR" not in output
    assert output.count("Traceback") <= 1, output
    assert elapsed < RUN_BOUND


# --- network: silence is the server's, not the kit's parsing; nothing after a close ---------


def many_fragments(count: int) -> Handler:
    """One legal text reply in ``count`` one-byte frames, all written at once."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept(reader, writer)
        frames = [frame_header(0x1 if i == 0 else 0x0, 1, fin=i == count - 1) + b"a"
                  for i in range(count)]
        writer.write(b"".join(frames))
        await writer.drain()
        await asyncio.sleep(60)

    return handler


@pytest.mark.asyncio
async def test_the_time_spent_decoding_is_not_the_servers_silence(
        monkeypatch: pytest.MonkeyPatch) -> None:
    count = 60_000  # decoding them all takes wsproto longer than the 0.3 s timeout
    # Lifted here, the bound on a whole receive that keeps getting bytes (RECEIVE_FACTOR x
    # the timeout, 3 s): on a machine busy with other work, decoding them reached it.
    monkeypatch.setattr(netconn, "RECEIVE_FACTOR", 1000.0)
    async with raw_server(many_fragments(count)) as url:
        driver = UrlDriver(url, timeout=0.3)
        try:
            conn = await driver.connect("/ws")
            event = await conn.receive()
        finally:
            await driver.aclose()
    assert event == Text("a" * count)


def close_then(extra: bytes) -> Handler:
    """Closes with 1000, then sends ``extra`` before closing TCP."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept(reader, writer)
        writer.write(bytes([0x88, 2]) + struct.pack("!H", 1000))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(extra)
        await writer.drain()
        await asyncio.sleep(0.05)

    return handler


@pytest.mark.asyncio
@pytest.mark.parametrize(("extra", "after"), [
    (frame_header(0x1, 5) + b"again", 7), (b"", 0)])
async def test_bytes_after_the_servers_close_frame_are_a_violation(
        extra: bytes, after: int) -> None:
    from wscheck.core.events import Closed, ProtocolViolation

    async with raw_server(close_then(extra)) as url:
        driver = UrlDriver(url, timeout=1.0, quiet_window=1.0)
        try:
            conn = await driver.connect("/ws")
            event = await conn.receive()
            late = await conn.finish()
        finally:
            await driver.aclose()
    assert event == Closed(1000)
    if after:
        assert isinstance(late, ProtocolViolation) and late.after_close
        assert f"{after} bytes after its close frame" in late.problem
    else:
        assert late is None


# --- memory: whole runs against hostile targets stay small ----------------------------------


@pytest.mark.parametrize("case", ["url-huge-frame", "asgi-floods"])
def test_a_whole_run_against_a_hostile_target_stays_under_300_mb(case: str) -> None:
    """benchmarks/memory.py in a child process: a frame announcing 2^63-1 bytes (without the
    size limit, the client buffered gigabytes), an app that sends without end."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "memory.py"
    done = subprocess.run([sys.executable, str(script), "--case", case, "--json"],
                          capture_output=True, text=True, timeout=600, check=False)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 1, done.stdout + done.stderr  # checks failed, nothing crashed
    assert result["peak_rss_mb"] < 300, result


def test_keyboard_interrupt_in_an_app_task_is_the_apps_failure(tmp_path: Any) -> None:
    status, output, elapsed = run_kit(tmp_path, "background_interrupts")
    assert status == 1, output
    assert "AppInterrupted: the app raised KeyboardInterrupt" in output
    assert "INTERNALERROR" not in output
    assert "This portal is not running" not in output
    assert elapsed < RUN_BOUND


# --- network: the close's deadline is the server's silence too ------------------------------


CLOSE_TIMEOUT = 1.0


@pytest.mark.asyncio
async def test_a_close_reply_dribbled_steadily_is_not_a_timeout() -> None:
    """One byte of the reply every timeout / 5: 32 bytes take over 6 timeouts in all, yet
    the server is never silent for one (a fixed deadline called it "no close frame")."""
    from tests.raw_servers import dribbled_close
    from wscheck.core.events import Closed

    reason = "closing slowly, but closing"
    async with raw_server(dribbled_close(CLOSE_TIMEOUT / 5, reason)) as url:
        driver = UrlDriver(url, timeout=CLOSE_TIMEOUT)
        try:
            conn = await driver.connect("/ws")
            started = time.monotonic()
            await conn.close()
            elapsed = time.monotonic() - started
            final = await conn.receive()
        finally:
            await driver.aclose()
    assert final == Closed(1000, reason), final
    assert elapsed > CLOSE_TIMEOUT  # the reply did take longer than one timeout in all


@pytest.mark.asyncio
async def test_a_close_that_is_never_answered_still_times_out() -> None:
    from tests.raw_servers import mute_close

    async with raw_server(mute_close) as url:
        driver = UrlDriver(url, timeout=CLOSE_TIMEOUT)
        try:
            conn = await driver.connect("/ws")
            started = time.monotonic()
            await conn.close()
            elapsed = time.monotonic() - started
            final = await conn.receive()
        finally:
            await driver.aclose()
    assert isinstance(final, TransportError), final
    assert final.problem == f"no close frame in reply within {CLOSE_TIMEOUT:g}s"
    assert CLOSE_TIMEOUT * 0.9 <= elapsed < WIDE


# --- in-process: a flood is the check's reason for failing ----------------------------------


@pytest.mark.parametrize(("broken", "flood"), [("floods_when_idle", True),
                                               ("prompts_when_idle", False)])
def test_a_flooding_app_fails_its_check_for_flooding(broken: str, flood: bool) -> None:
    """``echo.no-unsolicited`` fails on both apps; only the one that floods ends its
    transcript with the flood, and the failure text says so. One unsolicited prompt is an
    extra message, as before."""
    import importlib

    from tests.verdicts import run_checks
    from wscheck.checks.judging import format_failure
    from wscheck.core.events import Flooded
    from wscheck.core.spec import Spec
    from wscheck.drivers.asgi import AsgiDriver

    app = importlib.import_module(f"tests.broken.{broken}").app

    async def run() -> Any:
        driver = AsgiDriver(app, timeout=1.0)
        try:
            return (await run_checks(driver, Spec(), only={"echo.no-unsolicited"}))[
                "echo.no-unsolicited"]
        finally:
            await driver.aclose()

    chk, verdict = asyncio.run(run())
    assert verdict is not None and not verdict.passed and not verdict.is_inconclusive
    observed = verdict.observation.observed
    text = format_failure(chk, verdict)
    assert isinstance(observed[-1], Flooded) is flood, observed[-3:]
    assert ("flood: " in text) is flood, text
    if flood:
        assert observed[-1].messages >= 1000 and len(observed) <= 3, observed
        assert f"flood: {observed[-1].messages} unasked messages (" in text, text


@pytest.mark.asyncio
@pytest.mark.parametrize("after_close", [False, True], ids=["replies", "after-close"])
async def test_a_server_that_floods_is_stopped_with_a_flood_event(after_close: bool) -> None:
    """Over the network: one message sent, then thousands of messages in a few reads. The
    client calls it a flood once it has more than FLOOD_FACTOR × 1 + FLOOD_SLACK, fails the
    connection and keeps none of them; a close that waits for its reply behind the flood
    ends on it too, instead of reading it for RECEIVE_FACTOR × the timeout."""
    from tests.raw_servers import floods
    from wscheck.core.events import Flooded
    from wscheck.drivers.base import FLOOD_FACTOR, FLOOD_SLACK

    async with raw_server(floods(after_close)) as url:
        driver = UrlDriver(url, timeout=1.0)
        try:
            conn = await driver.connect("/ws")
            await conn.send_text("hi")
            started = time.monotonic()
            if after_close:
                await conn.close()
            # A client that keeps reading (one message at a time, as a conversation does)
            # meets the flood's end within a bounded number of receives.
            for _ in range(10 * (FLOOD_FACTOR + FLOOD_SLACK)):
                final = await conn.receive()
                if not isinstance(final, Text):
                    break
            elapsed = time.monotonic() - started
            kept = len(conn._pending)
        finally:
            await driver.aclose()
    assert isinstance(final, Flooded), final
    assert final.messages > 0 and final.size == final.messages  # one byte each
    assert conn._received > FLOOD_FACTOR + FLOOD_SLACK
    assert conn._received < 10 * (FLOOD_FACTOR + FLOOD_SLACK)  # stopped soon after the bound
    assert kept == 0
    assert elapsed < WIDE


def test_a_flood_is_in_the_report_and_replay_reads_it(tmp_path: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON report keeps the flood as an event of its own (schema-validated), the HTML
    report and the terminal show it, and replay's reader takes it back."""
    import json

    from tests.test_report import validate
    from wscheck.cli.main import main
    from wscheck.core.events import Flooded
    from wscheck.reporting.reader import read_case

    report = tmp_path / "flood.json"
    html = tmp_path / "flood.html"
    status = main(["run", "--app", "tests.broken.floods_when_idle:app", "--timeout", "1",
                   "--report", str(report), "--html", str(html), "--",
                   "-k", "echo.no-unsolicited"])
    out = capsys.readouterr().out
    assert status == 1, out
    data = json.loads(report.read_text(encoding="utf-8"))
    validate(data)
    record = next(r for r in data["checks"] if r["id"] == "echo.no-unsolicited")
    assert record["verdict"] == "fail", record
    assert record["observed"][-1]["type"] == "flooded", record["observed"]
    assert "flood: " in out and "unasked messages" in out, out
    assert "flood: " in html.read_text(encoding="utf-8")
    case = read_case(report, "echo.no-unsolicited")
    assert isinstance(case.observed[-1], Flooded), case.observed


# --- memory: what a transcript keeps is bounded at the point it is kept -----------------------


def answers_with(size: int) -> Any:
    """Answers every message with ``size`` characters, or with 0 with the right echo."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": "接收到的消息是:" + message["text"]
                        if size == 0 else "a" * size})
    return app


@pytest.mark.asyncio
async def test_a_huge_reply_is_clipped_when_it_is_recorded() -> None:
    """A reply far longer than anything the conversation could be answered with is kept as
    its head, tail, length and digest, and still differs from the prediction; a reply as
    long as a 64 KiB echo is kept whole and matches."""
    import hashlib

    from wscheck.core.events import Conversation
    from wscheck.core.limits import CLIP_LENGTH, KEEP_LENGTH, clip
    from wscheck.core.spec import Spec
    from wscheck.drivers.asgi import AsgiDriver
    from wscheck.generation.strategies import LONG_CREDENTIAL, LONG_MESSAGE_BYTES
    from wscheck.run.conversation import run_conversation

    # The bound is far from any reply the kit's own messages can get, even those sent after
    # a conversation opened (the state machine's): a message, a credential, a template.
    assert KEEP_LENGTH > 2 * (LONG_MESSAGE_BYTES + LONG_CREDENTIAL + 1024)
    huge = 8 * 1024 * 1024
    message = "m" * (64 * 1024)
    conversation = Conversation.of("/ws", message)
    for size, whole in ((huge, False), (0, True)):
        driver = AsgiDriver(answers_with(size), timeout=2.0)
        try:
            obs = await run_conversation(driver, Spec(), conversation)
        finally:
            await driver.aclose()
        reply = obs.observed[1]
        assert isinstance(reply, Text), obs.observed
        assert obs.ok is whole
        if whole:
            assert reply.text == "接收到的消息是:" + message
        else:
            assert len(reply.text) < CLIP_LENGTH  # a report's own clip leaves it as it is
            assert clip(reply.text) == reply.text
            digest = hashlib.sha256(b"a" * huge).hexdigest()[:16]
            assert f"[clipped: {huge} chars, sha256 {digest}…]" in reply.text
    assert KEEP_LENGTH + len(message) < huge



@pytest.mark.slow  # waits out the watchdog's bound in a process of its own
def test_when_the_watchdog_ends_the_process_the_reports_are_written(tmp_path: Any) -> None:
    """An app blocked in a call nothing interrupts (``time.sleep(120)``): before the process
    ends, the running check is recorded as failed with the watchdog's message and the
    blocked frame's stack, and the JSON, HTML and JUnit XML reports are complete."""
    import json
    import xml.etree.ElementTree as ET

    from tests.test_report import validate

    status, output, elapsed = run_kit(
        tmp_path, "sleeps", "--wscheck-report=run.json", "--wscheck-html=run.html",
        "--junitxml=junit.xml")
    assert status == 1, output
    assert "did not give the loop back" in output, output
    assert elapsed < RUN_BOUND

    report = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    validate(report)
    assert report["exit_status"] == 1, report["exit_status"]
    blocked = [r for r in report["checks"] if r["verdict"] == "fail"]
    assert [r["id"] for r in blocked] == ["echo.accept"], report["checks"]
    assert "the app blocked the event loop for more than 5s" in blocked[0]["message"]
    assert "time.sleep(120)" in blocked[0]["message"]  # the stack of the blocked frame

    html = (tmp_path / "run.html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>") and "echo.accept" in html
    assert "the app blocked the event loop" in html

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1", ET.tostring(suite)
    case = next(c for c in suite.iter("testcase") if c.get("name") == "echo.accept")
    failure = case.find("failure")
    assert failure is not None and "time.sleep(120)" in (failure.text or "") + (
        failure.get("message") or ""), ET.tostring(case)
