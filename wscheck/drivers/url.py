"""The network driver: a real WebSocket client against a ``ws://`` or ``wss://`` URL.

How it is built, and why not on ``httpx_ws.AsyncWebSocketSession``
------------------------------------------------------------------
The opening handshake is the request httpx-ws makes (``GET`` with ``Upgrade: websocket``
through a shared :class:`httpx.AsyncClient`), and on a ``101`` the upgraded byte stream comes
from the response's ``network_stream`` extension, exactly as in httpx-ws. Frames are then
encoded and decoded by wsproto, the sans-I/O library httpx-ws itself uses, but the read loop
is this module's own rather than httpx-ws's session, because a conformance kit needs things
that session (0.9.0) does not give:

* it reads in a background task inside an anyio task group that is entered in ``connect``
  and must be left from the same task, while a kit connection may be closed from another task
  (fixture teardown) or never closed by the check at all;
* an unsolicited pong (allowed by RFC 6455 §5.5.3 as a heartbeat) raises ``KeyError`` in that
  background task, which leaves the session as an ``ExceptionGroup``;
* a frame wsproto cannot parse (invalid UTF-8, say) surfaces as
  ``WebSocketDisconnect(1007, ...)``, the same as a server that closed with 1007;
* a server close surfaces as ``WebSocketDisconnect(code, reason)`` but is only answered when
  the session is left, with 1000 instead of the server's code, and ``close()`` never waits
  for the server's reply before closing the socket;
* a TCP drop surfaces as a bare ``WebSocketNetworkError()`` after the session tried to write
  a 1011 close frame to the dead stream, so reset and end-of-file look the same;
* events are handed over through an unbuffered memory stream (the ``queue_size`` argument is
  ignored by the async session), one task switch per message, and the keepalive task sends
  unsolicited pings every 20 s unless ``keepalive_ping_interval_seconds=None``.

Reading inline in :meth:`UrlConnection.receive` has none of these problems and costs no task
at all: one socket read may decode many messages, which are queued and returned one per call.

Things worth knowing about httpx itself:

* the upgraded connection stays checked out of httpx's pool until the response is closed, so
  the client is built with no connection limit (httpx's default of 100 would stall the 101st
  simultaneous conversation);
* ``httpx.QueryParams`` groups repeated keys (``a=1&b=2&a=3`` becomes ``a=1&a=3&b=2``), so the
  query string is built with :func:`urllib.parse.urlencode`, the same encoder ``QueryParams``
  uses, keeping the conversation's order;
* the client's cookie jar would store cookies a server sets (even on a refusal) and send
  them on later connections that carry no cookies of their own, and it orders and merges by
  name, so the jar rejects everything and the ``Cookie`` header is written by hand.

A connection is meant to be used by one task at a time, except that sending while another
task waits in :meth:`~UrlConnection.receive` is fine (writes are serialised by a lock because
``receive`` answers pings).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.cookiejar
import os
import re
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Sequence
from urllib.parse import urlencode

import httpcore
import httpx
import wsproto.events as ws_events
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.utilities import LocalProtocolError, generate_accept_token

from wscheck.drivers.base import TargetUnreachable
from wscheck.events import Accepted, Binary, Closed, Event, Refused, Silence, Text, TransportError

__all__ = ["UrlConnection", "UrlDriver", "parse_target_url"]

#: How much one socket read may return; big enough that a 64 KiB message takes one read.
_READ_SIZE = 65536

#: Where the one-line errors point the user; the CLI maps the same setting to its own flag.
_SETTING = "--wscheck-url"


def parse_target_url(url: str) -> httpx.URL:
    """Check a target URL and return it parsed.

    The target is ``ws://HOST[:PORT][/prefix]`` or the ``wss://`` form; every connection's
    path is appended to the prefix. A query string or fragment is refused rather than merged
    because each conversation brings its own query and the result would be ambiguous.
    Raises :class:`ValueError` with one line saying what is wrong and what to do.
    """
    if "://" not in url:
        raise ValueError(
            f"{_SETTING} must start with ws:// or wss://, got {url!r}: write it as ws://{url}"
        )
    if re.search(r"%(?:[01][0-9a-fA-F]|7[fF])|[\x00-\x20\x7f]", url):
        raise ValueError(
            f"{_SETTING} must not hold a control character or space, raw or %-encoded, "
            f"got {url.encode('unicode_escape').decode('ascii')!r}"
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{_SETTING} is not a valid URL ({exc}), got {url!r}") from None
    if parsed.userinfo:
        raise ValueError(
            f"{_SETTING} must not carry user:password@ (it would be sent as HTTP Basic "
            "credentials and shown in reports): give ws://HOST:PORT, and the credentials "
            "the protocol takes through the spec's cookie and token"
        )
    if parsed.scheme not in ("ws", "wss"):
        raise ValueError(f"{_SETTING} must start with ws:// or wss://, got {url!r}")
    if not parsed.host:
        raise ValueError(f"{_SETTING} needs a host, as in ws://127.0.0.1:8000, got {url!r}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"{_SETTING} has a port out of range (1-65535), got {url!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(
            f"{_SETTING} must not carry a query string or fragment, got {url!r}: "
            "give only ws://HOST:PORT and an optional path prefix"
        )
    return parsed


def _cookie_header(cookies: Sequence[tuple[str, str]]) -> bytes:
    """``a=1; session=`` in the given order, values as UTF-8 (what browsers send).

    Values are not quoted or escaped: the kit sends exactly what the conversation holds. A
    character that would change how the header splits is refused instead of sent, since the
    server would then see other cookies than the ones the model reasons about.
    """
    parts = []
    for name, value in cookies:
        if not name or any(c in name for c in "=; \t\r\n\0"):
            raise ValueError(f"cookie name {name!r} cannot be sent in a Cookie header")
        if any(c in value for c in ";\r\n\0"):
            raise ValueError(
                f"cookie value {value!r} for {name!r} cannot be sent in a Cookie header"
            )
        parts.append(f"{name}={value}")
    return "; ".join(parts).encode("utf-8")


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps httpx's cookie jar empty: each conversation sends only its own cookies."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False


def _connect_failure(exc: httpx.ConnectError) -> BaseException | None:
    """The error under httpx's ``ConnectError``: httpx wraps httpcore's, which holds the
    original as its argument (its ``__cause__`` is not always kept)."""
    inner = exc.__cause__
    if isinstance(inner, httpcore.ConnectError):
        inner = inner.__cause__ or next(
            (arg for arg in inner.args if isinstance(arg, BaseException)), None
        )
    return inner


def _is_tcp_connect_failure(exc: httpx.ConnectError) -> bool:
    """True when the TCP connect failed, False when TCP worked and TLS failed on top of it.

    httpx raises ``ConnectError`` for both. The TCP connect fails with a plain ``OSError``
    (refused, unreachable, DNS); the TLS handshake with an ``ssl.SSLError`` (itself an
    ``OSError``) or an anyio stream error when the server hangs up mid-handshake.
    """
    inner = _connect_failure(exc)
    if _reset_cause(exc) is not None:
        return False  # something listens: it took the connection and then reset it
    return isinstance(inner, OSError) and not isinstance(inner, ssl.SSLError)


def _reset_cause(exc: BaseException) -> OSError | None:
    """The ``ConnectionResetError``/``ConnectionAbortedError`` somewhere under ``exc``:
    httpx and httpcore wrap it, sometimes only as an argument, and anyio groups attempts."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ConnectionResetError, ConnectionAbortedError)):
            return current
        stack += [e for e in (current.__cause__, current.__context__) if e is not None]
        stack += [a for a in current.args if isinstance(a, BaseException)]
        stack += list(getattr(current, "exceptions", ()))
    return None


def _transport_problem(exc: BaseException) -> str:
    """A readable reason for a transport failure whose own message is empty."""
    if _reset_cause(exc) is not None:
        return "connection reset by the server during the handshake"
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        if str(current):
            return str(current)
        current = current.__cause__ or current.__context__
    return type(exc).__name__


def _describe_connect_failure(exc: httpx.ConnectError) -> str:
    inner = _connect_failure(exc)
    if inner is None:
        return str(exc) or "connect failed"
    # anyio tries every address of the host and chains what each attempt raised.
    cause = inner.__cause__
    attempts = list(getattr(cause, "exceptions", [cause] if cause else [inner]))
    if attempts and all(isinstance(a, ConnectionRefusedError) for a in attempts):
        return "connection refused"
    first = attempts[0] if attempts else inner
    if isinstance(first, socket.gaierror):
        return f"host not found: {first.strerror or first}"
    if isinstance(first, OSError) and first.strerror:
        return first.strerror.lower()
    return str(first) or type(first).__name__


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _unread_bytes(transport: asyncio.BaseTransport) -> bytes:
    """Whatever the kernel still holds for a transport asyncio is dropping (bounded)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return b""
    try:
        raw = socket.socket(fileno=os.dup(sock.fileno()))
    except OSError:
        return b""
    chunks: list[bytes] = []
    try:
        raw.setblocking(False)
        for _ in range(256):  # at most 16 MiB: a bound, not a limit any reply reaches
            chunk = raw.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        pass  # nothing more (EAGAIN), or the reset itself
    finally:
        raw.close()
    return b"".join(chunks)


class _Wire(asyncio.Protocol):
    """A plain ``ws://`` connection read and written straight through its asyncio transport.

    After the handshake httpx hands over httpcore's stream, which goes through anyio: every
    read and write there enters a cancel scope for its timeout, maps exceptions, passes a
    resource guard and a checkpoint (one more turn of the event loop), which is most of what a
    round trip costs on loopback. For a plain TCP connection on asyncio, the transport under
    those layers is taken over instead: this protocol replaces anyio's, takes the bytes that
    anyio had buffered and that httpcore read past the ``101`` response, and from then on a
    write is ``transport.write`` and a read waits on one future. ``wss://`` (anyio's TLS
    stream) and any other stack keep the httpcore stream (:func:`_take_over` says which).

    Reading is not paused between calls, so bytes wait here rather than in the kernel; what
    the server sees is the same except when the client closes with a reply unread, which now
    ends with FIN rather than RST (``drop`` forces a reset either way).
    """

    def __init__(self, transport: asyncio.Transport, buffered: bytes, eof: bool,
                 error: BaseException | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        self._buffer = bytearray(buffered)
        self._eof = eof
        self._error = error
        self._waiter: asyncio.Future[None] | None = None
        #: Set while the transport's write buffer is over its high-water mark.
        self._drained: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep the transport open for writing, as anyio does; _release closes it

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            # asyncio drops a transport whose *write* failed (the server closed and reset
            # while a message of ours was on its way) without reading what had already
            # arrived, such as the server's close frame. The socket is still open here.
            self._buffer += _unread_bytes(self._transport)
        if exc is not None and self._error is None:
            self._error = exc
        self._eof = True
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # the connection's side
    async def read(self, timeout: float) -> bytes | None:
        """Everything that has arrived, ``b""`` at the end of the stream, ``None`` when
        nothing came in time; raises the ``OSError`` that ended the connection once the bytes
        before it were read."""
        if not self._buffer and not self._eof:
            waiter = self._waiter = self._loop.create_future()
            timer = self._loop.call_later(max(timeout, 0.0), _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        if self._error is not None:
            raise self._error
        return b"" if self._eof else None

    async def write(self, data: bytes, timeout: float) -> None:
        """Write; a connection already lost takes nothing (the next read says why). Waits,
        at most ``timeout``, while the server does not read what was written before."""
        if self._transport.is_closing():
            return
        self._transport.write(data)
        drained = self._drained
        if drained is not None:
            await asyncio.wait((drained,), timeout=timeout)


def _take_over(stream: object) -> _Wire | None:
    """The :class:`_Wire` of an upgraded plain TCP connection made by httpcore over anyio's
    asyncio backend, or ``None`` for anything else (TLS, another backend or version), which
    then keeps using httpcore's stream. Reads private attributes of httpcore and anyio, each
    checked, so that a change there falls back rather than breaks."""
    leading = getattr(stream, "_leading_data", None)  # httpcore's AsyncHTTP11UpgradeStream
    socket_stream = getattr(getattr(stream, "_stream", None), "_stream", None)  # anyio's
    transport = getattr(socket_stream, "_transport", None)
    protocol = getattr(socket_stream, "_protocol", None)
    queue = getattr(protocol, "read_queue", None)
    if (not isinstance(leading, bytes) or not isinstance(transport, asyncio.Transport)
            or not isinstance(queue, deque) or transport.get_protocol() is not protocol
            or transport.get_extra_info("sslcontext") is not None
            or getattr(socket_stream, "_closed", True)):
        return None
    buffered = leading + b"".join(queue)
    queue.clear()
    stream._leading_data = b""  # type: ignore[attr-defined]
    eof = bool(getattr(protocol, "is_at_eof", False)) or transport.is_closing()
    wire = _Wire(transport, buffered, eof, getattr(protocol, "exception", None))
    transport.set_protocol(wire)
    transport.set_write_buffer_limits()  # anyio's 0 would report a full buffer on every write
    transport.resume_reading()  # anyio pauses reading between its reads
    return wire


class UrlConnection:
    """One client connection; see :class:`wscheck.drivers.base.Connection` for the contract.

    ``_pending`` holds decoded messages not yet returned; ``_final`` is set the moment the
    connection ends (server close, transport failure, client close or drop) and is returned
    after the pending messages, then again on every later call.
    """

    handshake: Event

    def __init__(
        self,
        driver: UrlDriver,
        handshake: Event,
        response: httpx.Response | None = None,
    ) -> None:
        self.handshake = handshake
        self._driver = driver
        self._timeout = driver.timeout
        self._quiet_window = driver.quiet_window
        self._response = response
        self._stream: httpcore.AsyncNetworkStream | None = (
            response.extensions["network_stream"] if response is not None else None
        )
        #: The fast path for plain ws:// (see :class:`_Wire`); None: the httpcore stream.
        self._wire = _take_over(self._stream) if self._stream is not None else None
        self._ws = WsConnection(ConnectionType.CLIENT)
        self._write_lock = asyncio.Lock()
        self._pending: deque[Event] = deque()
        # Parts of a message that arrived over several reads or frames.
        self._text_parts: list[str] = []
        self._byte_parts: list[bytes] = []
        self._final: Event | None = None
        # A handshake that failed is already an observation; quiet() must not repeat it.
        self._final_seen = False
        if not isinstance(handshake, Accepted):
            self._final = handshake
            self._final_seen = True

    # --- sending ---------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        """Send a text message; nothing happens once the connection has ended."""
        if self._final is None:
            await self._send_event(ws_events.TextMessage(data=text))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message; nothing happens once the connection has ended."""
        if self._final is None:
            await self._send_event(ws_events.BytesMessage(data=data))

    async def _send_event(self, event: ws_events.Event) -> None:
        try:
            data = self._ws.send(event)
        except LocalProtocolError:
            return  # the server's close frame is in and read; receive() will report it
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        """Write without raising: a write that fails because the server just closed or reset
        is not an observation in itself, the next read reports what really happened."""
        if self._stream is None:
            return
        if self._wire is not None:
            await self._wire.write(data, self._timeout)
            return
        try:
            async with self._write_lock:
                await self._stream.write(data, timeout=self._timeout)
        except (httpcore.WriteError, httpcore.WriteTimeout, OSError):
            pass

    # --- receiving -------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Event:
        """The next server event, or ``Silence(timeout)``; the final event again once ended."""
        if self._pending:
            return self._pending.popleft()
        if self._final is None:
            wait = self._timeout if timeout is None else timeout
            deadline = time.monotonic() + wait
            while not self._pending and self._final is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not await self._read(remaining):
                    return Silence(wait)
            if self._pending:
                return self._pending.popleft()
        assert self._final is not None
        self._final_seen = True
        return self._final

    async def quiet(self, window: float | None = None) -> Event | None:
        """Wait up to ``window`` seconds for the server to say something more.

        Returns ``None`` when nothing new arrived, otherwise that event, which is thereby
        delivered: it is not queued again, so the caller records it (the same contract as
        :meth:`receive`). After the final event was delivered there is nothing new to say.
        """
        if self._final_seen and not self._pending:
            return None
        event = await self.receive(self._quiet_window if window is None else window)
        return None if isinstance(event, Silence) else event

    async def _read(self, timeout: float) -> bool:
        """One socket read, decoded into ``_pending`` / ``_final``; False when it timed out."""
        try:
            data = await self._recv(timeout)
        except (httpcore.ReadError, OSError) as exc:
            root: BaseException = exc
            while root.__cause__ is not None:
                root = root.__cause__
            detail = (root.strerror if isinstance(root, OSError) else None) or repr(root)
            await self._end(TransportError(
                f"connection reset without a close frame (1006): {detail}"
            ))
            return True
        if data is None:
            return False
        if not data:
            await self._end(TransportError("connection dropped without a close frame (1006)"))
            return True
        self._ws.receive_data(data)
        for event in self._ws.events():
            if isinstance(event, ws_events.TextMessage):
                if event.message_finished and not self._text_parts:
                    self._pending.append(Text(event.data))
                    continue
                self._text_parts.append(event.data)
                if event.message_finished:
                    self._pending.append(Text("".join(self._text_parts)))
                    self._text_parts = []
            elif isinstance(event, ws_events.BytesMessage):
                if event.message_finished and not self._byte_parts:
                    self._pending.append(Binary(bytes(event.data)))
                    continue
                self._byte_parts.append(bytes(event.data))
                if event.message_finished:
                    self._pending.append(Binary(b"".join(self._byte_parts)))
                    self._byte_parts = []
            elif isinstance(event, ws_events.Ping):
                await self._send_event(event.response())
            elif isinstance(event, ws_events.CloseConnection):
                await self._on_close_frame(event)
                break
            # Pongs answer pings this client never sends: nothing to do.
        return True

    async def _recv(self, timeout: float) -> bytes | None:
        """Bytes from the server, ``b""`` at its end, ``None`` when none came in time."""
        if self._wire is not None:
            return await self._wire.read(timeout)
        assert self._stream is not None
        try:
            return await self._stream.read(_READ_SIZE, timeout=timeout)
        except httpcore.ReadTimeout:
            return None

    async def _on_close_frame(self, event: ws_events.CloseConnection) -> None:
        state = self._ws.state
        if state not in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
            # A close frame moves wsproto to REMOTE_CLOSING (or CLOSED when it answers ours).
            # A CloseConnection that leaves the state alone is wsproto reporting a frame it
            # could not parse, with the code *we* must fail the connection with (RFC 6455 §7.1.7).
            await self._send_event(ws_events.CloseConnection(event.code, event.reason))
            await self._end(TransportError(
                f"server broke the WebSocket framing: {event.reason} "
                f"(the client failed the connection with {int(event.code)})"
            ))
            await self._release()
            return
        if state is ConnectionState.REMOTE_CLOSING:
            # Answer the server's close, echoing its code as RFC 6455 §5.5.1 asks.
            await self._send_event(event.response())
        await self._end(Closed(int(event.code), event.reason or ""))

    async def _end(self, final: Event) -> None:
        if self._final is None:
            self._final = final
            self._text_parts, self._byte_parts = [], []

    # --- ending ----------------------------------------------------------------------------

    async def close(self, code: int = 1000) -> None:
        """Send a close frame and wait, at most the driver's timeout, for the server's reply
        and for the server to close TCP first (RFC 6455 §7.1.1); never raises.

        Messages that arrive before the reply are kept for :meth:`receive`, and the reply is
        the final event. A server that does not answer in time ends as a ``TransportError``.
        """
        if self._stream is None:
            return
        try:
            # close() is documented never to raise: whatever goes wrong, the socket is released.
            with contextlib.suppress(Exception):
                deadline = time.monotonic() + self._timeout
                if self._final is None:
                    await self._send_event(ws_events.CloseConnection(code))
                    while self._final is None:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or not await self._read(remaining):
                            await self._end(TransportError(
                                f"no close frame in reply within {self._timeout:g}s"
                            ))
                            break
                if isinstance(self._final, Closed):
                    await self._await_eof(min(deadline - time.monotonic(), self._quiet_window))
        finally:
            await self._release()

    async def _await_eof(self, timeout: float) -> None:
        """Give the server a moment to close TCP first; bytes after the close are ignored."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                if await self._recv(remaining) in (None, b""):
                    return
            except (httpcore.ReadError, OSError):
                return

    async def drop(self) -> None:
        """Vanish without a close frame: the socket is reset (``SO_LINGER`` 0), so the server
        sees the connection end without a closing handshake.

        A reset rather than a plain close keeps the wire the same on every run: a plain close
        sends FIN, or RST when a reply happens to sit unread, depending on timing. Servers
        name the result differently: RFC 6455 says 1006, uvicorn's wsproto and
        websockets-sansio implementations give the app 1005, its legacy one 1006.
        """
        if self._stream is None:
            return
        sock = self._stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._end(TransportError("the client dropped the connection"))
        await self._release()

    async def finish(self, timeout: float | None = None) -> Event | None:
        """Always ``None``: a network client cannot see the server's insides (an app that
        crashes on the way out shows, at most, in the server's own logs)."""
        return None

    async def _release(self) -> None:
        """Close the socket and give the pool slot back; idempotent, never raises."""
        response, self._response, self._stream = self._response, None, None
        if self._final is None:
            self._final = TransportError("connection released by the driver")
        self._driver._forget(self)
        if response is not None:
            with contextlib.suppress(Exception):  # the socket is gone either way
                await response.aclose()


class UrlDriver:
    """Opens WebSocket connections to a live server at ``url``.

    ``timeout`` bounds every single wait (TCP connect, handshake, each receive, the closing
    handshake); ``quiet_window`` is how long :meth:`UrlConnection.quiet` listens by default.
    ``verify`` is for ``wss://``: ``True`` checks certificates against certifi's bundle,
    ``False`` does not check, a path names a CA bundle (a self-signed test CA).
    """

    kind = "url"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        quiet_window: float = 0.2,
        verify: bool | str = True,
    ) -> None:
        self.target = url
        self.timeout = timeout
        self.quiet_window = quiet_window
        self._base = parse_target_url(url)
        self._prefix = self._base.path.rstrip("/")
        self._verify: bool | ssl.SSLContext
        if isinstance(verify, str):
            if not os.path.isfile(verify):
                raise ValueError(f"the CA bundle {verify!r} does not exist: give a PEM file path")
            # A context rather than a path: httpx 0.28 deprecates verify=<str>.
            self._verify = ssl.create_default_context(cafile=verify)
        else:
            self._verify = verify
        self._client: httpx.AsyncClient | None = None
        self._open: set[UrlConnection] = set()

    def url_for(self, path: str, query: Sequence[tuple[str, str]] = ()) -> httpx.URL:
        """The URL a connection to ``path`` uses: prefix + path, query in the given order."""
        if not path.startswith("/"):
            raise ValueError(f"a connection path must start with '/', got {path!r}")
        url = self._base.copy_with(path=self._prefix + path)
        if query:
            url = url.copy_with(query=urlencode(list(query)).encode("ascii"))
        return url

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                verify=self._verify,
                # An upgraded connection holds its pool slot for its whole life.
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
                # Proxies or netrc from the environment would change what the kit observes.
                trust_env=False,
            )
            client.cookies.jar.set_policy(_NoCookies())
            self._client = client
        return self._client

    async def connect(
        self,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        cookies: Sequence[tuple[str, str]] = (),
    ) -> UrlConnection:
        """Open a connection; see :meth:`wscheck.drivers.base.Driver.connect`."""
        url = self.url_for(path, query)
        key = base64.b64encode(os.urandom(16))
        headers: list[tuple[bytes, bytes]] = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key),
            (b"Sec-WebSocket-Version", b"13"),
        ]
        if cookies:
            headers.append((b"Cookie", _cookie_header(cookies)))
        client = self._get_client()
        request = client.build_request("GET", url, headers=headers)
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            if _is_tcp_connect_failure(exc):
                raise TargetUnreachable(self._unreachable(exc)) from exc
            if _reset_cause(exc) is not None:
                return UrlConnection(self, TransportError(_transport_problem(exc)))
            return UrlConnection(self, TransportError(f"TLS handshake failed: {exc}"))
        except httpx.ConnectTimeout as exc:
            raise TargetUnreachable(
                f"nothing answered at {self.target} within {self.timeout:g}s: "
                f"start the server or fix {_SETTING}"
            ) from exc
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            return UrlConnection(self, Silence(self.timeout))
        except httpx.TransportError as exc:
            problem = _transport_problem(exc)
            return UrlConnection(self, TransportError(f"handshake failed: {problem}"))
        if response.status_code != 101:
            await response.aclose()
            return UrlConnection(self, Refused(status=response.status_code))
        expected = generate_accept_token(key).decode("ascii")
        if response.headers.get("sec-websocket-accept") != expected:
            await response.aclose()
            return UrlConnection(
                self, TransportError("handshake answer has a wrong Sec-WebSocket-Accept")
            )
        connection = UrlConnection(self, Accepted(), response)
        self._open.add(connection)
        return connection

    def _unreachable(self, exc: httpx.ConnectError) -> str:
        detail = _describe_connect_failure(exc)
        if detail.startswith("host not found"):
            return f"cannot reach {self.target} ({detail}): fix the host in {_SETTING}"
        return (
            f"nothing is listening at {self.target} ({detail}): "
            f"start the server or fix {_SETTING}"
        )

    def _forget(self, connection: UrlConnection) -> None:
        self._open.discard(connection)

    async def aclose(self) -> None:
        """Abort connections still open and close the HTTP client; the driver may be used
        again afterwards (a new client is made on the next connect)."""
        for connection in list(self._open):
            await connection._release()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
