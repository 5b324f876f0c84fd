"""Raw TCP servers on 127.0.0.1 for tests that need a wire no real server would produce: a
handshake answer broken on purpose, a server that goes mute.

Each runs an asyncio server in a thread of its own, so it serves a driver on the test's loop
and a whole ``wscheck run`` alike; it is stopped (and its connections cancelled) on exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import threading
from collections.abc import Awaitable, Callable, Iterator

import wsproto
import wsproto.events as we

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

#: Every read a raw server makes is bounded: a test never hangs on its own server.
READ_BOUND = 30.0

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_token(key: bytes) -> str:
    """RFC 6455's Sec-WebSocket-Accept for ``key`` (written out here, not taken from the
    library the driver uses, so that a test of the driver does not share its arithmetic)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode("ascii")


async def read_request(reader: asyncio.StreamReader) -> dict[str, str]:
    """The handshake request's headers, names lower-cased."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_BOUND)
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


async def read_until_gone(reader: asyncio.StreamReader) -> None:
    """Take whatever the client sends, answer nothing, until it goes away (bounded)."""
    with contextlib.suppress(OSError, TimeoutError):
        while await asyncio.wait_for(reader.read(65536), READ_BOUND):
            pass


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A working WebSocket echo (wsproto): accepts, echoes text, answers the close."""
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while True:
        data = await asyncio.wait_for(reader.read(65536), READ_BOUND)
        if not data:
            return
        ws.receive_data(data)
        out = b""
        for event in ws.events():
            if isinstance(event, we.Request):
                out += ws.send(we.AcceptConnection())
            elif isinstance(event, we.TextMessage):
                out += ws.send(we.TextMessage(data=event.data))
            elif isinstance(event, we.CloseConnection):
                writer.write(out + ws.send(event.response()))
                await writer.drain()
                return
        writer.write(out)
        await writer.drain()


@contextlib.contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` per connection on a free loopback port; yields ``"127.0.0.1:PORT"``."""
    loop = asyncio.new_event_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away: what it saw is what the test judges
        finally:
            writer.close()

    server = loop.run_until_complete(asyncio.start_server(run, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def stop() -> None:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(server.wait_closed(), 5)

    try:
        yield f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _accept_then_await_close(reader: asyncio.StreamReader,
                                   writer: asyncio.StreamWriter) -> bool:
    """Completes the handshake (wsproto), then reads until the client's close frame; False
    when the client went away first."""
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while True:
        data = await asyncio.wait_for(reader.read(65536), READ_BOUND)
        if not data:
            return False
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, we.Request):
                writer.write(ws.send(we.AcceptConnection()))
                await writer.drain()
            elif isinstance(event, we.CloseConnection):
                return True


def dribbled_close(gap: float, reason: str = "closing slowly, but closing") -> Handler:
    """Answers the client's close frame with a legal close frame (1000 and ``reason``),
    written one byte every ``gap`` seconds: steady progress whose total exceeds a timeout
    when ``gap`` × its length does."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await _accept_then_await_close(reader, writer):
            return
        payload = (1000).to_bytes(2, "big") + reason.encode("utf-8")
        assert len(payload) < 126
        for byte in bytes([0x88, len(payload)]) + payload:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(gap)

    return handler


async def mute_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Completes the handshake, takes the client's close frame and never answers it."""
    if await _accept_then_await_close(reader, writer):
        await read_until_gone(reader)


def floods(after_close: bool) -> Handler:
    """Completes the handshake, then after the client's first frame (its first message, or
    with ``after_close`` its close frame, which it never answers) sends one-byte text
    messages as fast as the client reads: up to ten million."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        started = False
        while not started:
            data = await asyncio.wait_for(reader.read(65536), READ_BOUND)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, we.Request):
                    writer.write(ws.send(we.AcceptConnection()))
                    await writer.drain()
                elif isinstance(event, we.CloseConnection if after_close else we.TextMessage):
                    started = True
        batch = b"\x81\x01x" * 1000
        for _ in range(10_000):
            writer.write(batch)
            await asyncio.wait_for(writer.drain(), READ_BOUND)

    return handler
