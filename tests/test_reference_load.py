"""The reference app under load and faults, served the way ``serve()`` serves it (uvicorn with
:func:`reference_app.uvicorn_config`), on 127.0.0.1 only.

* 1,000 simultaneous conversations: every reply arrives, on the right connection, in order;
* TCP drops at every point of a conversation, on every WebSocket implementation uvicorn has:
  the app's session ends without an exception and nothing is logged;
* the maximum message size: a message over it gets a close with 1009;
* a soak of many messages over one connection, with the server's memory growth printed and
  bounded (the server runs as a subprocess, so its memory is its own).

Every wait is bounded. ``benchmarks/soak.py`` is the long soak (100,000 messages).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from reference_app import DEFAULT_MAX_MESSAGE_SIZE, MESSAGE_TOO_BIG, create_app, uvicorn_config
from tests.servers import SessionRecorder, capture_logs, free_port

TIMEOUT = 10.0  # any single wait
#: Any single wait among 1,000 simultaneous conversations: a handshake queued behind hundreds
#: of others on a machine running other CPU-bound work takes seconds, not milliseconds.
LOAD_TIMEOUT = 60.0
ECHO_PREFIX = "接收到的消息是:"
FAREWELLS = ["请注意:窗口即将关闭", "窗口已关闭"]
ROOT = Path(__file__).resolve().parent.parent

# Every WebSocket implementation uvicorn offers: each notices a vanished client differently.
WS_IMPLS = [
    "websockets-sansio",
    pytest.param("websockets", marks=[  # deprecated by uvicorn, still its most used one
        pytest.mark.filterwarnings("ignore::DeprecationWarning"),
        pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
    ]),
    "wsproto",
]


# --- the server ------------------------------------------------------------------------------


class Tracked(SessionRecorder):
    """The session recorder, waited on from the test's thread."""

    def wait_ended(self, count: int, timeout: float = TIMEOUT) -> list[BaseException | None]:
        deadline = time.monotonic() + timeout
        while len(self.ended) < count:
            assert time.monotonic() < deadline, (
                f"{count - len(self.ended)} app session(s) did not end within {timeout:g}s")
            time.sleep(0.005)
        return list(self.ended)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot own signal handlers
        pass


@dataclass
class Reference:
    """The reference app served for one test."""

    address: str
    tracked: Tracked
    records: list[Any] = field(default_factory=list)

    def ws(self, path: str) -> str:
        return f"ws://{self.address}{path}"


@contextlib.contextmanager
def serve_reference(**options: Any) -> Iterator[Reference]:
    """The reference app under uvicorn in a thread, configured by ``uvicorn_config`` (what
    ``serve()`` runs), WARNING+ log records captured; ``options`` go to ``uvicorn_config``."""
    port = free_port()
    options.setdefault("log_level", "warning")
    config = uvicorn_config(host="127.0.0.1", port=port, **options)
    tracked = Tracked(config.app)
    config.app = tracked
    with capture_logs() as records:
        server = _Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
            time.sleep(0.01)
        try:
            yield Reference(f"127.0.0.1:{port}", tracked, records)
        finally:
            server.should_exit = True
            thread.join(TIMEOUT)
            if thread.is_alive():  # pragma: no cover - only when a test wedged the server
                server.force_exit = True
                thread.join(5)


@contextlib.asynccontextmanager
async def ws_connect(url: str, timeout: float = TIMEOUT, **options: Any,
                     ) -> AsyncIterator[ClientConnection]:
    async with connect(url, open_timeout=timeout, close_timeout=timeout, max_size=2**23,
                       max_queue=None, **options) as ws:
        yield ws


async def recv_text(ws: ClientConnection, timeout: float = TIMEOUT) -> str:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str), f"expected a text message, got {message!r}"
    return message


async def close_code(ws: ClientConnection, timeout: float = TIMEOUT) -> int | None:
    """The code the server closes with; fails if a message arrives first."""
    try:
        message = await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    pytest.fail(f"expected a close, got {str(message)[:80]!r}")


# --- 1,000 simultaneous conversations ---------------------------------------------------------

CONVERSATIONS = 1000
MESSAGES = 3


async def _conversation(server: Reference, n: int, opened: asyncio.Barrier) -> None:
    """Connection ``n``: waits until every connection is open, then sends messages that
    name it (pipelined), checks each reply, and ends with bye (or a close on /item/ws)."""
    on_item = n % 2 == 1
    url = server.ws(f"/item/ws?token=client-{n}") if on_item else server.ws("/ws")
    async with ws_connect(url, LOAD_TIMEOUT) as ws:
        await asyncio.wait_for(opened.wait(), LOAD_TIMEOUT)
        sent = [f"client {n} message {i}" for i in range(MESSAGES)]
        for text in sent:
            await ws.send(text)
        if on_item:
            for text in sent:
                assert await reply(ws) == f"Session cookie or query token value is: client-{n}"
                assert await reply(ws) == f"Message text was: {text}, for : None"
            await ws.close()
        else:
            for text in sent:
                assert await reply(ws) == ECHO_PREFIX + text, f"connection {n}"
            await ws.send("bye")
            assert [await reply(ws), await reply(ws)] == FAREWELLS
            assert await close_code(ws, LOAD_TIMEOUT) == 1000


async def reply(ws: ClientConnection) -> str:
    """The next text message, waited for as long as one wait under load may take."""
    return await recv_text(ws, LOAD_TIMEOUT)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_thousand_simultaneous_conversations() -> None:
    with serve_reference(backlog=2048) as server:
        started = time.monotonic()
        opened = asyncio.Barrier(CONVERSATIONS)
        # Connect in waves of 100 so that the listen backlog never overflows; all of them
        # stay open (the barrier) until the last one is in.
        tasks = []
        for n in range(CONVERSATIONS):
            tasks.append(asyncio.create_task(_conversation(server, n, opened)))
            if n % 100 == 99:
                await asyncio.sleep(0.05)
        done, pending = await asyncio.wait(tasks, timeout=5 * LOAD_TIMEOUT)
        for task in pending:
            task.cancel()
        assert not pending, (
            f"{len(pending)} conversations did not finish within {5 * LOAD_TIMEOUT:g} s")
        errors = [t.exception() for t in done if t.exception() is not None]
        assert errors == [], f"{len(errors)} conversations failed, first: {errors[0]!r}"
        elapsed = time.monotonic() - started
        ended = await asyncio.to_thread(server.tracked.wait_ended, CONVERSATIONS,
                                       LOAD_TIMEOUT)
        print(f"\n{CONVERSATIONS} simultaneous conversations ({CONVERSATIONS * MESSAGES} "
              f"messages) in {elapsed:.1f} s")
        assert ended == [None] * CONVERSATIONS
        assert [r.getMessage() for r in server.records] == []


# --- TCP drops at every point of a conversation -----------------------------------------------


def _client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True,
                  declared: int | None = None) -> bytes:
    """A masked client frame; ``declared`` announces another payload length than sent."""
    length = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A blocking WebSocket client on a plain socket, for what no client library does:
    stop in the middle of a frame, or reset instead of closing."""

    def __init__(self, address: str, path: str = "/ws", *, handshake: bool = True) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
        self.buffer = b""
        if handshake:
            self.sock.sendall(self.request)
            response = self._read_until(b"\r\n\r\n")
            assert response.startswith(b"HTTP/1.1 101"), response

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the connection"
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        """The next (unmasked) server frame: opcode and payload."""
        first, second = self._read_exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8))
        return first & 0x0F, self._read_exactly(length)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_text(self, text: str) -> None:
        self.sock.sendall(_client_frame(text.encode()))

    def reset(self) -> None:
        """Vanish: RST, no close frame, no FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def _drop_during_the_request(address: str) -> None:
    client = RawClient(address, handshake=False)
    client.send(client.request[:40])
    client.reset()


def _drop_before_the_101_is_read(address: str) -> None:
    client = RawClient(address, handshake=False)
    client.send(client.request)
    client.reset()


def _drop_in_a_frame_header(address: str) -> None:
    client = RawClient(address)
    client.send(_client_frame(b"x" * 300)[:3])
    client.reset()


def _drop_in_a_frame_payload(address: str) -> None:
    client = RawClient(address)
    client.send(_client_frame(b"y" * 10_000, declared=100_000)[:10_000])
    client.reset()


def _drop_between_fragments(address: str) -> None:
    client = RawClient(address)
    client.send(_client_frame(b"first half, ", fin=False))
    client.reset()


def _drop_after_the_server_close(address: str) -> None:
    """bye: read the farewells and the server's close frame, then reset instead of
    answering it (the closing handshake never completes)."""
    client = RawClient(address)
    client.send_text("bye")
    frames = [client.read_frame() for _ in range(3)]
    assert [op for op, _ in frames] == [0x1, 0x1, 0x8]
    client.reset()


def _drop_after_the_client_close(address: str) -> None:
    client = RawClient(address)
    client.send_text("hello")
    client.send(_client_frame(struct.pack("!H", 1000), opcode=0x8))
    client.reset()


def _drop_with_big_replies_in_flight(address: str) -> None:
    """Twenty 256 KiB messages, no reply read: the server is blocked writing into full
    socket buffers when the client vanishes."""
    client = RawClient(address)
    for i in range(20):
        client.send_text(f"{i} " + "z" * 256 * 1024)
    client.reset()


def _drop_with_item_replies_in_flight(address: str) -> None:
    client = RawClient(address, "/item/ws?token=t&q=7")
    for i in range(200):
        client.send_text(f"in flight {i}")
    client.reset()


def _drop_mid_message_over_the_limit(address: str) -> None:
    client = RawClient(address)
    client.send(_client_frame(b"w" * 65536, declared=DEFAULT_MAX_MESSAGE_SIZE + 10)[:65536])
    client.reset()


DROPS: dict[str, Callable[[str], None]] = {
    "during-the-request": _drop_during_the_request,
    "before-the-101-is-read": _drop_before_the_101_is_read,
    "in-a-frame-header": _drop_in_a_frame_header,
    "in-a-frame-payload": _drop_in_a_frame_payload,
    "between-fragments": _drop_between_fragments,
    "after-the-server-close": _drop_after_the_server_close,
    "after-the-client-close": _drop_after_the_client_close,
    "big-replies-in-flight": _drop_with_big_replies_in_flight,
    "item-replies-in-flight": _drop_with_item_replies_in_flight,
    "mid-message-over-the-limit": _drop_mid_message_over_the_limit,
}

#: Drops that happen before the handshake reached the app (no app session to wait for).
BEFORE_THE_APP = {"during-the-request"}


async def _still_serving(server: Reference) -> None:
    async with ws_connect(server.ws("/ws")) as ws:
        await ws.send("still there?")
        assert await recv_text(ws) == ECHO_PREFIX + "still there?"


@pytest.mark.asyncio
@pytest.mark.parametrize("ws_impl", WS_IMPLS)
async def test_tcp_drops_at_every_point_are_quiet(ws_impl: str) -> None:
    """One server per implementation, every drop in turn; after each, the app's session has
    ended without an exception, nothing is logged, and the next client is served."""
    with serve_reference(ws=ws_impl) as server:
        sessions = 0
        for name, drop in DROPS.items():
            await asyncio.to_thread(drop, server.address)
            if name not in BEFORE_THE_APP:
                sessions += 1
                ended = await asyncio.to_thread(server.tracked.wait_ended, sessions)
                assert ended[-1] is None, f"{name}: the app raised {ended[-1]!r}"
            await _still_serving(server)
            sessions += 1
            await asyncio.to_thread(server.tracked.wait_ended, sessions)
            assert [r.getMessage() for r in server.records] == [], name


# --- the maximum message size -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_default_maximum_message_size_is_answered_with_1009() -> None:
    limit = DEFAULT_MAX_MESSAGE_SIZE
    with serve_reference() as server:
        async with ws_connect(server.ws("/ws")) as ws:
            exactly = "a" * limit
            await ws.send(exactly)
            assert await recv_text(ws) == ECHO_PREFIX + exactly
            await ws.send("a" * (limit + 1))
            assert await close_code(ws) == MESSAGE_TOO_BIG
        # Counted in UTF-8 bytes: fewer characters than the limit, more bytes.
        async with ws_connect(server.ws("/ws")) as ws:
            await ws.send("é" * (limit // 2 + 1))
            assert await close_code(ws) == MESSAGE_TOO_BIG
        # Over the limit, a binary message is too big before it is unsupported.
        async with ws_connect(server.ws("/ws")) as ws:
            await ws.send(b"\x00" * (limit + 1))
            assert await close_code(ws) == MESSAGE_TOO_BIG
        async with ws_connect(server.ws("/item/ws?token=t")) as ws:
            await ws.send("b" * (limit + 1))
            assert await close_code(ws) == MESSAGE_TOO_BIG
        await _still_serving(server)
        assert [r.getMessage() for r in server.records] == []


@pytest.mark.asyncio
@pytest.mark.parametrize("ws_impl", WS_IMPLS)
async def test_configured_maximum_message_size(ws_impl: str) -> None:
    """With a 1000-byte limit: 1000 bytes are echoed; just over, the app closes with 1009;
    far over (beyond uvicorn's frame limit, twice the app's), uvicorn closes with 1009."""
    with serve_reference(ws=ws_impl, max_message_size=1000) as server:
        for size, code in [(1000, None), (1001, MESSAGE_TOO_BIG), (1999, MESSAGE_TOO_BIG),
                           (50_000, MESSAGE_TOO_BIG)]:
            async with ws_connect(server.ws("/ws")) as ws:
                await ws.send("m" * size)
                if code is None:
                    assert await recv_text(ws) == ECHO_PREFIX + "m" * size
                else:
                    assert await close_code(ws) == code, f"{size} bytes"
        await _still_serving(server)
        assert [r.getMessage() for r in server.records] == []


def test_maximum_message_size_settings_are_checked() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_message_size"):
            create_app(max_message_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ws_max_size"):
        uvicorn_config(max_message_size=1000, ws_max_size=1000)
    config = uvicorn_config(max_message_size=5000)
    assert config.ws_max_size == 10_000
    assert config.app.state.max_message_size == 5000  # type: ignore[attr-defined]


# --- soak: many messages over one connection --------------------------------------------------

SOAK_MESSAGES = 10_000
SOAK_GROWTH_BOUND_MB = 20.0


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")  # pragma: no cover


@contextlib.contextmanager
def reference_subprocess() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m reference_app`` on a free port, stopped (killed if need be) on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    process = subprocess.Popen([sys.executable, "-m", "reference_app", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "the reference app exited early"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the reference app did not listen in 20 s"
            time.sleep(0.05)
        yield process, f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


async def soak(url: str, count: int, window: int = 200,
               checkpoint: Callable[[int], Awaitable[None]] | None = None) -> None:
    """Send ``count`` distinct messages over one connection, ``window`` at a time, checking
    every reply; ``checkpoint(sent)`` runs after each window."""
    async with ws_connect(url) as ws:
        sent = 0
        while sent < count:
            batch = [f"soak {i}" for i in range(sent, min(sent + window, count))]
            for text in batch:
                await ws.send(text)
            for text in batch:
                assert await recv_text(ws) == ECHO_PREFIX + text
            sent += len(batch)
            if checkpoint is not None:
                await checkpoint(sent)
        await ws.send("bye")
        assert [await recv_text(ws), await recv_text(ws)] == FAREWELLS


@pytest.mark.slow
@pytest.mark.asyncio
async def test_soak_memory_growth_is_bounded() -> None:
    with reference_subprocess() as (process, address):
        url = f"ws://{address}/ws"
        await soak(url, 1000)  # warm up: imports, caches, buffers
        before = rss_mb(process.pid)
        started = time.monotonic()
        await soak(url, SOAK_MESSAGES)
        elapsed = time.monotonic() - started
        after = rss_mb(process.pid)
    growth = after - before
    print(f"\nsoak: {SOAK_MESSAGES} messages over one connection in {elapsed:.1f} s "
          f"({SOAK_MESSAGES / elapsed:.0f} msg/s); server RSS {before:.1f} MB -> "
          f"{after:.1f} MB (growth {growth:+.1f} MB)")
    assert growth < SOAK_GROWTH_BOUND_MB
