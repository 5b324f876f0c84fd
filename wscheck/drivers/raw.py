"""A raw WebSocket client for the rfc6455 suite: an opening handshake written by hand, then
any frame bytes written as given and the server's frames read as it sent them.

The network driver (:mod:`wscheck.drivers.url`) speaks WebSocket through wsproto, which
refuses to send an invalid frame and fails the connection on an invalid one it receives:
right for a chat, wrong for a suite whose cases are invalid frames and whose verdicts are
what the server does with them. Every wait here is bounded by the timeout; what the server
does (a close, a reset, silence, broken framing) is an :class:`End`, never an exception.
Each connection keeps a trace of the frames both ways (bounded), which a verdict carries.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from wscheck.core.frames import CLOSE, PING, PONG, Frame, FrameError, FrameReader, describe
from wscheck.drivers.handshake import handshake_problem
from wscheck.errors import TargetUnreachable

__all__ = ["TRACE_LINES", "End", "RawConnection", "RawDriver"]

#: Lines a connection's trace keeps; past them only a count of the frames left out.
TRACE_LINES = 80
#: Bytes the opening handshake's response may take.
_HEAD_LIMIT = 64 * 1024
#: Slack over the largest message a case sends, for the largest frame the server may send.
_FRAME_SLACK = 1024 * 1024
#: A read that keeps getting frames without reaching what it waits for (a whole message, the
#: end of the connection) ends after this many times its wait: a server that streams tiny
#: frames forever cannot hold a case (as the network driver's receive is bounded).
RECEIVE_FACTOR = 10.0


@dataclass(frozen=True)
class End:
    """How reading ended without a frame: ``eof`` (the server closed TCP), ``reset``,
    ``silence`` (nothing within the wait) or ``broken`` (the bytes are no frame)."""

    kind: str
    detail: str = ""

    def __str__(self) -> str:
        words = {"eof": "TCP closed by the server", "reset": "connection reset",
                 "silence": "silence", "broken": "broken framing"}
        return words.get(self.kind, self.kind) + (f" ({self.detail})" if self.detail else "")


class RawConnection:
    """One connection after an accepted opening handshake (see the module docstring)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 leftover: bytes, *, timeout: float, max_size: int,
                 extensions: str = "") -> None:
        self._reader = reader
        self._writer = writer
        self.timeout = timeout
        #: The ``Sec-WebSocket-Extensions`` the server accepted ("" for none).
        self.extensions = extensions
        self._frames = FrameReader(max_size + _FRAME_SLACK)
        self._pending: list[Frame] = list(self._frames.feed(leftover))
        self._ended: End | None = None
        self._started = time.monotonic()
        self._trace: list[str] = []
        self._left_out = 0

    # --- the trace --------------------------------------------------------------------------

    def note(self, line: str) -> None:
        """Add a line to the trace (bounded: past :data:`TRACE_LINES`, counted only)."""
        if len(self._trace) < TRACE_LINES:
            self._trace.append(f"{time.monotonic() - self._started:7.3f}s {line}")
        else:
            self._left_out += 1

    @property
    def trace(self) -> tuple[str, ...]:
        more = (f"… {self._left_out} more lines left out",) if self._left_out else ()
        return (*self._trace, *more)

    # --- writing ----------------------------------------------------------------------------

    async def send(self, *frames: Frame, shown: str | None = None) -> None:
        """Write the frames (in one write); the trace shows each, or ``shown`` once for all.
        A connection the server already closed takes nothing: the next read says why."""
        if shown is not None:
            self.note("→ " + shown)
        else:
            for frame in frames:
                self.note("→ " + describe(frame))
        await self.write(b"".join(frame.encode() for frame in frames))

    async def write(self, data: bytes) -> None:
        """Write bytes, waiting while the server does not read them: at most the timeout per
        MiB written, and at least the timeout (a 16 MiB message on a busy machine takes its
        time; a server that stops reading is still bounded)."""
        if self._writer.is_closing():
            return
        try:
            self._writer.write(data)
            bound = self.timeout * max(1.0, min(len(data) / (1 << 20), RECEIVE_FACTOR))
            await asyncio.wait_for(self._writer.drain(), bound)
        except (OSError, asyncio.TimeoutError, RuntimeError):
            pass  # a server that stopped reading or went away: the reads tell

    # --- reading ----------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Frame | End:
        """The next frame the server sent, or how the connection ended, or ``End("silence")``
        after ``timeout`` (default: the connection's). A ping is answered with its pong (and
        returned: the checks see it)."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not self._pending and self._ended is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.note(f"… silence for {wait:g}s")
                return End("silence", f"{wait:g}s")
            try:
                data = await asyncio.wait_for(self._reader.read(65536), left)
            except asyncio.TimeoutError:
                continue
            except OSError as exc:
                self._end(End("reset", type(exc).__name__))
                break
            if not data:
                self._end(End("eof"))
                break
            try:
                self._pending += self._frames.feed(data)
            except FrameError as exc:
                self._end(End("broken", str(exc)))
        if self._pending:
            frame = self._pending.pop(0)
            self.note("← " + describe(frame, from_client=False))
            if frame.opcode == PING and not self._writer.is_closing():
                await self.send(Frame(PONG, frame.payload))
            return frame
        assert self._ended is not None
        return self._ended

    def _end(self, end: End) -> None:
        self._ended = end
        self.note("← " + str(end))

    async def message(self, timeout: float | None = None) -> tuple[int, bytes] | Frame | End:
        """The next whole data message (opcode of its first frame, payload), continuation
        frames joined, pongs skipped; else the control frame or end that came instead (a
        close, silence, a frame out of place, which the caller judges). The whole message is
        bounded by ``timeout`` per frame."""
        opcode: int | None = None
        parts: list[bytes] = []
        size = 0
        wait = self.timeout if timeout is None else timeout
        limit = time.monotonic() + wait * RECEIVE_FACTOR
        while True:
            left = limit - time.monotonic()
            if left <= 0 or size > self._frames.max_size:
                self.note(f"… no whole message within {wait * RECEIVE_FACTOR:g}s "
                          f"({size} bytes of fragments)")
                return End("silence", f"frames for {wait * RECEIVE_FACTOR:g}s without a "
                                      "whole message")
            got = await self.receive(min(wait, left))
            if isinstance(got, End):
                return got
            if got.opcode in (PING, PONG):
                continue
            if got.opcode == CLOSE or got.rsv or got.masked:
                return got
            if opcode is None:
                if got.opcode == 0:
                    return got  # a continuation with nothing to continue
                opcode = got.opcode
            elif got.opcode != 0:
                return got
            parts.append(got.payload)
            size += len(got.payload)
            if got.fin:
                return opcode, b"".join(parts)

    # --- ending -----------------------------------------------------------------------------

    async def wait_closed(self, timeout: float | None = None) -> End:
        """Read (and drop) until the server ends the TCP connection, bounded; the end seen."""
        wait = self.timeout if timeout is None else timeout
        limit = time.monotonic() + wait * RECEIVE_FACTOR
        while True:
            left = limit - time.monotonic()
            if left <= 0:
                return End("silence", f"frames for {wait * RECEIVE_FACTOR:g}s without an end")
            got = await self.receive(min(wait, left))
            if isinstance(got, End):
                return got

    async def aclose(self) -> None:
        """Let the socket go (no closing handshake: the cases do that themselves)."""
        self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), self.timeout)


class RawDriver:
    """Opens :class:`RawConnection` objects to the WebSocket endpoint ``url`` itself (its
    path, no prefix added). ``verify`` is as the network driver's (``wss://``)."""

    def at(self, url: str, mode: str) -> RawDriver:
        """The same client for another endpoint (the chat spec's echo path) and mode."""
        return RawDriver(url, timeout=self.timeout, max_size=self.max_size,
                         verify=self._verify, mode=mode)

    def __init__(self, url: str, *, timeout: float, max_size: int,
                 verify: bool | str = True, mode: str = "echo") -> None:
        self.url = url
        #: ``echo`` (every message comes back as it came) or ``chat`` (the chat protocol's
        #: echo endpoint: replies as the spec says, see :mod:`wscheck.checks.rfc6455`).
        self.mode = mode
        self._verify = verify
        self.timeout = timeout
        self.max_size = max_size
        parts = urlsplit(url)
        self._tls = parts.scheme == "wss"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._tls else 80)
        self._netloc = parts.netloc.rpartition("@")[2]
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._ssl: ssl.SSLContext | None = None
        if self._tls:
            self._ssl = (ssl.create_default_context(cafile=verify) if isinstance(verify, str)
                         else ssl.create_default_context())
            if verify is False:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    async def open(self, extensions: Sequence[str] = ()) -> RawConnection | str:
        """An accepted connection, or what went wrong with the opening handshake (one line).
        Raises :class:`TargetUnreachable` when nothing listens at all."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, ssl=self._ssl,
                                        limit=_HEAD_LIMIT * 2), self.timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise TargetUnreachable(f"cannot connect to {self.url}: "
                                    f"{type(exc).__name__}: {exc}") from None
        key = base64.b64encode(os.urandom(16))
        request = [f"GET {self._target} HTTP/1.1", f"Host: {self._netloc}",
                   "Upgrade: websocket", "Connection: Upgrade",
                   f"Sec-WebSocket-Key: {key.decode('ascii')}", "Sec-WebSocket-Version: 13"]
        if extensions:
            request.append("Sec-WebSocket-Extensions: " + ", ".join(extensions))
        try:
            writer.write(("\r\n".join(request) + "\r\n\r\n").encode("ascii"))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout * 3)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as exc:
            writer.close()
            return f"the opening handshake failed: {type(exc).__name__}"
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        pairs = [line.split(":", 1) for line in lines[1:] if ":" in line]
        headers = httpx.Headers([(name.strip(), value.strip()) for name, value in pairs])
        if len(status) < 2 or status[1] != "101":
            writer.close()
            return f"the opening handshake was answered {lines[0][:80]!r}, not 101"
        checked = headers.copy()
        if extensions and "sec-websocket-extensions" in checked:
            del checked["sec-websocket-extensions"]  # offered: judged by the case that did
        problem = handshake_problem(checked, key)
        if problem is not None:
            writer.close()
            return problem
        # Bytes past the head (frames the server sent at once) stay in the reader's buffer.
        conn = RawConnection(reader, writer, b"", timeout=self.timeout,
                             max_size=self.max_size,
                             extensions=headers.get("sec-websocket-extensions", ""))
        conn.note(f"connected to {self.url}" + (
            " (the chat protocol's echo endpoint: replies read through the spec)"
            if self.mode == "chat" else ""))
        return conn
