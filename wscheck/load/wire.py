"""A blocking WebSocket client for Locust's gevent workers, behind the kit's driver interface.

Why not the kit's asyncio network driver inside Locust
------------------------------------------------------
Locust runs every simulated user as a greenlet, with the standard library monkey-patched by
gevent. The kit's :class:`~wscheck.drivers.url.UrlDriver` is asyncio (httpx, anyio, an
asyncio transport). The ways for them to meet:

* an asyncio loop per worker process, in a real thread, each greenlet handing its
  conversation over and waiting for the result. Every conversation then crosses threads
  twice and the two threads share one GIL; all the work runs on one loop that Locust neither
  sees nor schedules (ramp-up and users become bookkeeping); and under monkey-patching
  asyncio's selector, its executor and its sockets are gevent's objects living in another
  thread's hub. It was rejected on those grounds, not measured;
* this module: the same conversation runner (:func:`wscheck.runner.run_conversation`), the
  same model and the same frame codec (wsproto, which the kit's driver uses too) over plain
  sockets that gevent makes cooperative. Each user's conversation is its own greenlet, so
  Locust's scheduling, ramp-up and ``--processes`` apply to real work.

What was measured (``benchmarks/load.py``, figures in ``docs/load.md``): at the same
concurrency against the same server, one Locust process with this client verifies more
conversations per second, and per CPU-second, than the kit's asyncio driver does in a
process of its own; the asyncio stack (httpx's handshake, anyio's streams) costs more per
conversation than a blocking socket and wsproto under gevent.

The trick that keeps the runner shared: :class:`GeventConnection` implements the async
:class:`~wscheck.drivers.base.Connection` protocol, but its coroutines never suspend — they
block on gevent sockets, which yield to other greenlets instead. :func:`run_blocking` drives
such a coroutine to completion with ``send(None)``, with no event loop at all, and refuses
one that suspends (which would mean something asyncio-only crept in).

Without gevent's monkey-patching (outside Locust) the client still works, one connection at
a time; ``wscheck load --replay`` uses the kit's asyncio driver instead.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import wsproto.events as ws_events
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from wscheck.errors import SettingError
from wscheck.events import Accepted, Binary, Closed, Event, Refused, Silence, Text, TransportError

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
    """``a=1; session=`` in the conversation's order, unquoted (what browsers send)."""
    return "; ".join(f"{name}={value}" for name, value in cookies).encode("utf-8")


class GeventConnection:
    """One WebSocket connection over a blocking socket (see the module docstring).

    It follows the contract of :class:`wscheck.drivers.base.Connection`: whatever the server
    does is returned as an event, never raised.
    """

    def __init__(self, driver: GeventDriver, sock: socket.socket | None, ws: WSConnection,
                 handshake: Event, pending: deque[Event] | None = None) -> None:
        self._driver = driver
        self._sock = sock
        self._ws = ws
        self.handshake = handshake
        self._pending: deque[Event] = pending if pending is not None else deque()
        self._final: Event | None = None if isinstance(handshake, Accepted) else handshake
        self._final_seen = self._final is not None
        self._text: list[str] = []
        self._bytes: list[bytes] = []
        if sock is None or self._final is not None:
            self._release()

    # --- sending ---------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        self._send(ws_events.Message(data=text))

    async def send_bytes(self, data: bytes) -> None:
        self._send(ws_events.Message(data=data))

    def _send(self, event: ws_events.Event) -> None:
        if self._sock is None or self._final is not None:
            return
        # The end, if any, is read next: a client racing a close is not an error.
        with contextlib.suppress(LocalProtocolError, OSError):
            self._sock.sendall(self._ws.send(event))

    # --- receiving -------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Event:
        wait = self._driver.timeout if timeout is None else timeout
        return self._receive(wait)

    def _receive(self, wait: float) -> Event:
        deadline = time.monotonic() + wait
        while not self._pending and self._final is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                return Silence(wait)
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
            self._sock.settimeout(timeout)
            data = self._sock.recv(_READ_SIZE)
        except TimeoutError:
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
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                self._on_event(event)
        except RemoteProtocolError as exc:
            self._end(TransportError(f"server broke the WebSocket framing: {exc}"))
            self._release()
        return True

    def _on_event(self, event: ws_events.Event) -> None:
        if isinstance(event, ws_events.TextMessage):
            self._text.append(event.data)
            if event.message_finished:
                self._pending.append(Text("".join(self._text)))
                self._text = []
        elif isinstance(event, ws_events.BytesMessage):
            self._bytes.append(bytes(event.data))
            if event.message_finished:
                self._pending.append(Binary(b"".join(self._bytes)))
                self._bytes = []
        elif isinstance(event, ws_events.Ping):
            self._send(event.response())
        elif isinstance(event, ws_events.CloseConnection):
            if self._ws.state is ConnectionState.REMOTE_CLOSING:
                self._send(event.response())  # echo the server's code (RFC 6455 §5.5.1)
            self._end(Closed(int(event.code), event.reason or ""))
            self._release()

    def _end(self, final: Event) -> None:
        if self._final is None:
            self._final = final

    # --- ending ----------------------------------------------------------------------------

    async def close(self, code: int = 1000) -> None:
        """Send a close frame and wait (at most the driver's timeout) for the server's."""
        if self._sock is None:
            return
        if self._final is None:
            self._send(ws_events.CloseConnection(code))
            deadline = time.monotonic() + self._driver.timeout
            while self._final is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._read(remaining):
                    self._end(TransportError(
                        f"no close frame in reply within {self._driver.timeout:g}s"))
                    break
        self._release()

    async def drop(self) -> None:
        """Vanish without a close frame: reset the TCP connection (``SO_LINGER`` 0)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        self._end(TransportError("the client dropped the connection"))
        self._release()

    async def finish(self, timeout: float | None = None) -> Event | None:
        """Always ``None``: a network client cannot see the server's insides."""
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

    ``open_connections`` and ``peak_connections`` count this driver's sockets, which is how
    the benchmark reports concurrent sessions.
    """

    kind = "url"

    def __init__(self, url: str, *, timeout: float = 10.0, quiet_window: float = 0.1,
                 ca_file: str | None = None) -> None:
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
                      cookies: Sequence[tuple[str, str]] = ()) -> GeventConnection:
        """Open a connection. Anything the server does (refuse, reset, stay silent) is the
        connection's ``handshake`` event; this never raises for it."""
        ws = WSConnection(ConnectionType.CLIENT)
        target = self._prefix + path + (("?" + urlencode(list(query))) if query else "")
        headers = [(b"cookie", _cookie_header(cookies))] if cookies else []
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self.timeout)
        except TimeoutError:
            return GeventConnection(self, None, ws, Silence(self.timeout))
        except OSError as exc:
            return GeventConnection(self, None, ws, TransportError(
                f"connect failed: {_reason(exc)}"))
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            sock.sendall(ws.send(ws_events.Request(host=self._authority, target=target,
                                                   extra_headers=headers)))
            return self._handshake(sock, ws)
        except OSError as exc:
            conn = GeventConnection(self, sock, ws, TransportError(
                f"handshake failed: {_reason(exc)}"))
            return conn

    def _handshake(self, sock: socket.socket, ws: WSConnection) -> GeventConnection:
        deadline = time.monotonic() + self.timeout
        pending: deque[ws_events.Event] = deque()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return GeventConnection(self, sock, ws, Silence(self.timeout))
            sock.settimeout(remaining)
            try:
                data = sock.recv(_READ_SIZE)
            except TimeoutError:
                continue
            if not data:
                return GeventConnection(self, sock, ws, TransportError(
                    "connection closed during the handshake"))
            try:
                ws.receive_data(data)
                pending.extend(ws.events())
            except RemoteProtocolError as exc:
                return GeventConnection(self, sock, ws, TransportError(
                    f"handshake failed: {exc}"))
            while pending:
                event = pending.popleft()
                if isinstance(event, ws_events.RejectConnection):
                    return GeventConnection(self, sock, ws, Refused(event.status_code))
                if isinstance(event, ws_events.AcceptConnection):
                    conn = GeventConnection(self, sock, ws, Accepted())
                    for later in pending:  # frames that came with the 101 response
                        conn._on_event(later)
                    return conn

    async def aclose(self) -> None:
        """Nothing to release: every connection closes its own socket."""

