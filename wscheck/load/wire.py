"""A blocking WebSocket client for Locust's gevent workers, behind the kit's driver interface.

Locust runs users as greenlets under gevent, and the kit's network driver is asyncio; this
client runs the suite's own conversation runner, model and frame codec
(:class:`wscheck.drivers._wire.Frames`) over sockets gevent makes cooperative.
:class:`GeventConnection`'s coroutines never suspend (they block on gevent sockets), and
:func:`run_blocking` drives one to the end with ``send(None)``, with no event loop. Why not an
asyncio loop in a thread, and what was measured: docs/load.md.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import h11
from wsproto.utilities import generate_accept_token, split_comma_header

from wscheck.core.cookies import cookie_header
from wscheck.core.defaults import DEFAULT_QUIET_WINDOW, DEFAULT_TIMEOUT
from wscheck.core.events import (
    Accepted,
    Closed,
    Event,
    ProtocolViolation,
    Refused,
    Silence,
    TransportError,
)
from wscheck.drivers._mute import time_lost
from wscheck.drivers._wire import RECEIVE_FACTOR, Decoded, Frames, ReceiveDeadline
from wscheck.drivers.base import MAX_MESSAGE_SIZE
from wscheck.errors import SettingError

__all__ = ["GeventConnection", "GeventDriver", "run_blocking"]

T = TypeVar("T")

_READ_SIZE = 65536


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (every await ends in blocking, gevent-cooperative
    I/O) to its end and return its value."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the conversation awaited an event loop; the gevent client never does")


def _reason(exc: OSError) -> str:
    """``connection refused``: the OS's words, whatever wraps them (gevent keeps only args)."""
    words = exc.strerror or next((a for a in exc.args if isinstance(a, str)), None)
    return (words or type(exc).__name__).lower()


def _cookie_header(cookies: Sequence[tuple[str, str]]) -> bytes:
    """``a=1; session=`` in the conversation's order, unquoted (what browsers send); a
    nameless cookie as its bare value."""
    return cookie_header(cookies).encode("utf-8")


def _upgrade_problem(response: h11.InformationalResponse | h11.Response, key: bytes) -> str | None:
    """What makes a ``101`` not a WebSocket upgrade (RFC 6455 §4.1: Upgrade, Connection and
    the accept token), in wsproto's words, or ``None``."""
    headers = dict(response.headers)  # h11 gives the names in lower case
    if not any(token.lower() == "upgrade"
               for token in split_comma_header(headers.get(b"connection", b""))):
        return "Missing header, 'Connection: Upgrade'"
    if headers.get(b"upgrade", b"").lower() != b"websocket":
        return "Missing header, 'Upgrade: websocket'"
    if headers.get(b"sec-websocket-accept") != generate_accept_token(key):
        return "Bad accept token"
    return None


class GeventConnection:
    """One WebSocket connection over a blocking socket (see the module docstring).

    It follows the contract of :class:`wscheck.drivers.base.Connection`: whatever the server
    does is returned as an event, never raised. After the handshake every byte goes through
    the kit's frame codec (:class:`wscheck.drivers._wire.Frames`), the one the network driver
    uses, with its bound on message size; only the socket I/O is this class's own.
    """

    def __init__(self, driver: GeventDriver, sock: socket.socket | None, handshake: Event,
                 leftover: bytes = b"") -> None:
        self._driver = driver
        self._sock = sock
        self._frames = Frames(driver.max_message_size)
        self.handshake = handshake
        self._pending: deque[Event] = deque()
        self._final: Event | None = None if isinstance(handshake, Accepted) else handshake
        self._final_seen = self._final is not None
        #: Bytes the server sent after its close frame (``finish`` reports them).
        self._after_close = 0
        if sock is None or self._final is not None:
            self._release()
        elif leftover:  # frames that came with the 101 response
            self._take(self._frames.decode(leftover))

    # --- sending ---------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        if self._final is None:
            self._write(self._frames.text(text))

    async def send_bytes(self, data: bytes) -> None:
        if self._final is None:
            self._write(self._frames.binary(data))

    def _write(self, data: bytes) -> None:
        if self._sock is None or not data:
            return
        # The end, if any, is read next: a client racing a close is not an error.
        with contextlib.suppress(OSError):
            self._sock.sendall(data)

    # --- receiving -------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Event:
        wait = self._driver.timeout if timeout is None else timeout
        return self._receive(wait)

    def _receive(self, wait: float) -> Event:
        if not self._pending and self._final is None:
            deadline = ReceiveDeadline(wait, RECEIVE_FACTOR)
            while not self._pending and self._final is None:
                remaining = deadline.remaining()
                if remaining <= 0 or not self._read(remaining):
                    return Silence(wait)
                deadline.progress()
        if self._pending:
            return self._pending.popleft()
        assert self._final is not None
        self._final_seen = True
        return self._final

    async def quiet(self, window: float | None = None) -> Event | None:
        if self._final_seen and not self._pending:
            return None
        event = self._receive(self._driver.quiet_window if window is None else window)
        return None if isinstance(event, Silence) else event

    def _read(self, timeout: float) -> bool:
        """One socket read, decoded; False when nothing came within ``timeout``."""
        if self._sock is None:
            self._end(TransportError("connection released by the driver"))
            return True
        try:
            data = self._recv(self._sock, timeout)
            if data is None:
                return False
        except OSError as exc:
            self._end(TransportError(
                f"connection reset without a close frame (1006): {_reason(exc)}"))
            self._release()
            return True
        if not data:
            self._end(TransportError("connection dropped without a close frame (1006)"))
            self._release()
            return True
        self._take(self._frames.decode(data))
        return True

    @staticmethod
    def _recv(sock: socket.socket, timeout: float) -> bytes | None:
        """Bytes, or None when none came within ``timeout``: time the process itself could
        not listen past the deadline does not count (:func:`._mute.time_lost`, as in the
        kit's network driver)."""
        started = time.monotonic()
        try:
            sock.settimeout(timeout)
            return sock.recv(_READ_SIZE)
        except TimeoutError:
            more = time_lost(started, timeout, time.monotonic())
            if not more:
                return None
        try:
            sock.settimeout(more)
            return sock.recv(_READ_SIZE)
        except TimeoutError:
            return None

    def _take(self, decoded: Decoded) -> None:
        """What the codec made of a read: messages queued, pongs and close replies written,
        and the end of the connection (a close, or the framing failure the client failed the
        connection for, after which the socket is let go) recorded."""
        self._pending.extend(decoded.messages)
        self._after_close += decoded.after_close
        self._write(decoded.reply)
        if decoded.final is not None:
            self._end(decoded.final)
            if decoded.broken:
                self._release()
            # After a close, the socket stays until ``finish`` or ``close`` has listened for
            # the server's end of TCP (and for bytes it sends after its close frame).

    def _end(self, final: Event) -> None:
        if self._final is None:
            self._final = final

    # --- ending ----------------------------------------------------------------------------

    async def close(self, code: int = 1000) -> None:
        """Send a close frame and wait (at most the driver's timeout) for the server's."""
        if self._sock is None:
            return
        deadline = time.monotonic() + self._driver.timeout
        if self._final is None:
            self._write(self._frames.close(code))
            while self._final is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._read(remaining):
                    self._end(TransportError(
                        f"no close frame in reply within {self._driver.timeout:g}s"))
                    break
        if isinstance(self._final, Closed):
            self._await_eof(min(deadline - time.monotonic(), self._driver.quiet_window))
        self._release()

    def _await_eof(self, timeout: float) -> None:
        """Give the server a moment to close TCP first (RFC 6455 §7.1.1); bytes it sends
        after its close frame are counted (``finish`` reports them), never parsed."""
        deadline = time.monotonic() + timeout
        while self._sock is not None and (remaining := deadline - time.monotonic()) > 0:
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(_READ_SIZE)
            except OSError:  # the timeout included: the server did not close in time
                return
            if not data:
                return
            self._after_close += len(data)

    async def drop(self) -> None:
        """Vanish without a close frame: reset the TCP connection (``SO_LINGER`` 0)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        self._end(TransportError("the client dropped the connection"))
        self._release()

    async def finish(self, timeout: float | None = None) -> Event | None:
        """After a server's close, listen until it closes TCP (at most the quiet window);
        bytes it sent after its close frame are a ``ProtocolViolation``, as the network
        driver reports them; otherwise ``None``: a network client cannot see the server's
        insides."""
        if isinstance(self._final, Closed) and self._sock is not None:
            window = self._driver.quiet_window
            self._await_eof(window if timeout is None else min(timeout, window))
            self._release()
        if self._after_close:
            return ProtocolViolation(
                f"the server sent {self._after_close} bytes after its close frame",
                after_close=True)
        return None

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            self._driver.open_connections -= 1
            with contextlib.suppress(OSError):
                sock.close()


class GeventDriver:
    """Opens :class:`GeventConnection` objects to the server at ``url`` (``ws://`` or
    ``wss://``, with an optional path prefix). ``timeout`` bounds every wait; ``quiet_window``
    is how long a connection listens for anything unexpected after a conversation.

    ``max_message_size`` is the largest message accepted: a frame header announcing more
    fails the connection with 1009 before any of its payload is kept, and the connection ends
    as the server's fault (the network driver's bound, :class:`wscheck.drivers._wire.Frames`).

    ``open_connections`` and ``peak_connections`` count this driver's sockets, which is how
    the benchmark reports concurrent sessions.
    """

    kind = "url"

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 quiet_window: float = DEFAULT_QUIET_WINDOW,
                 ca_file: str | None = None, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise SettingError(f"--url must be ws://HOST:PORT[/prefix] or wss://..., got {url!r}")
        if parts.query or parts.fragment:
            raise SettingError(f"--url must not carry a query string or fragment, got {url!r}")
        try:
            port = parts.port
        except ValueError:
            raise SettingError(f"--url has a port out of range (1-65535), got {url!r}") from None
        self.target = url
        self.timeout = timeout
        self.quiet_window = quiet_window
        self.max_message_size = max_message_size
        self._host = parts.hostname
        self._port = port or (443 if parts.scheme == "wss" else 80)
        self._authority = parts.netloc.rpartition("@")[2]
        self._prefix = parts.path.rstrip("/")
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "wss":
            self._tls = ssl.create_default_context(cafile=ca_file)
        self.open_connections = 0
        self.peak_connections = 0

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = (), *,
                      origin: bool = False) -> GeventConnection:
        """Open a connection. Anything the server does (refuse, reset, stay silent) is the
        connection's ``handshake`` event; this never raises for it. ``origin`` adds the
        ``Origin`` of a page the target served, as the suite's network driver does."""
        target = self._prefix + path + (("?" + urlencode(list(query))) if query else "")
        key = base64.b64encode(os.urandom(16))
        headers = [(b"host", self._authority.encode("idna")), (b"upgrade", b"websocket"),
                   (b"connection", b"Upgrade"), (b"sec-websocket-key", key),
                   (b"sec-websocket-version", b"13")]
        if origin:
            scheme = "https" if self._tls is not None else "http"
            headers.append((b"origin",
                            f"{scheme}://".encode() + self._authority.encode("idna")))
        if cookies:
            headers.append((b"cookie", _cookie_header(cookies)))
        http = h11.Connection(h11.CLIENT)
        request = http.send(h11.Request(method="GET", target=target, headers=headers)) or b""
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self.timeout)
        except TimeoutError:
            return GeventConnection(self, None, Silence(self.timeout))
        except OSError as exc:
            return GeventConnection(self, None, TransportError(
                f"connect failed: {_reason(exc)}"))
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            sock.sendall(request)
            return self._handshake(sock, http, key)
        except OSError as exc:
            return GeventConnection(self, sock, TransportError(
                f"handshake failed: {_reason(exc)}"))

    def _handshake(self, sock: socket.socket, http: h11.Connection,
                   key: bytes) -> GeventConnection:
        """Read the response to the upgrade request (h11 parses it), within the driver's
        timeout; on ``101`` the bytes after it are the first frames, handed to the codec."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError:
                return GeventConnection(self, sock, TransportError(
                    "handshake failed: Bad HTTP message"))
            if isinstance(event, (h11.InformationalResponse, h11.Response)):
                if event.status_code != 101:
                    return GeventConnection(self, sock, Refused(event.status_code))
                problem = _upgrade_problem(event, key)
                if problem is not None:
                    return GeventConnection(self, sock, TransportError(
                        f"handshake failed: {problem}"))
                return GeventConnection(self, sock, Accepted(), http.trailing_data[0])
            if event is not h11.NEED_DATA:  # nothing else can come before the response
                return GeventConnection(self, sock, TransportError(
                    "handshake failed: Bad HTTP message"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return GeventConnection(self, sock, Silence(self.timeout))
            sock.settimeout(remaining)
            try:
                data = sock.recv(_READ_SIZE)
            except TimeoutError:
                continue
            if not data:
                return GeventConnection(self, sock, TransportError(
                    "connection closed during the handshake"))
            http.receive_data(data)

    async def aclose(self) -> None:
        """Nothing to release: every connection closes its own socket."""

