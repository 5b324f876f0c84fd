"""The bytes and frames under a network connection: the parts that reach into libraries.

Two things live here so that an upgrade of httpcore, anyio or wsproto touches this module
alone: :func:`take_over`, which reads private attributes of httpcore's upgraded stream and
anyio's asyncio socket stream to read and write the TCP transport directly, and
:class:`Frames`, the wsproto codec turned into the kit's events. See docs/network-driver.md
for why the network driver is built this way.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass, field

import wsproto.events as ws_events
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits
from wsproto.utilities import LocalProtocolError

from wscheck.core.events import Binary, Closed, Event, Text, TransportError
from wscheck.core.limits import KeptText

__all__ = ["READ_HIGH_WATER", "RECEIVE_FACTOR", "Decoded", "Frames", "MessageSizeLimit",
           "ReceiveDeadline", "Wire", "take_over"]

#: Bytes a :class:`Wire` holds unread before it stops reading the socket (TCP backpressure:
#: a server that floods while the kit is not reading fills its own send buffer, not ours).
READ_HIGH_WATER = 1024 * 1024

#: A receive that keeps getting bytes without a whole message ends after this many times its
#: wait (:class:`ReceiveDeadline`); the network driver's ``url.RECEIVE_FACTOR`` has the same
#: value (a test keeps them equal), and this module keeps the gevent load client from
#: importing httpx and anyio for it.
RECEIVE_FACTOR = 10.0


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


class Wire(asyncio.Protocol):
    """A plain ``ws://`` connection read and written straight through its asyncio transport.

    After the handshake httpx hands over httpcore's stream, which goes through anyio: every
    read and write there enters a cancel scope for its timeout, maps exceptions, passes a
    resource guard and a checkpoint (one more turn of the event loop), which is most of what a
    round trip costs on loopback. For a plain TCP connection on asyncio, the transport under
    those layers is taken over instead: this protocol replaces anyio's, takes the bytes that
    anyio had buffered and that httpcore read past the ``101`` response, and from then on a
    write is ``transport.write`` and a read waits on one future. ``wss://`` (anyio's TLS
    stream) and any other stack keep the httpcore stream (:func:`take_over` says which).

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
        #: Reading is paused while more than READ_HIGH_WATER bytes wait here.
        self._paused = False

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > READ_HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()
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
            if self._paused:
                self._paused = False
                if not self._transport.is_closing():
                    self._transport.resume_reading()
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


def take_over(stream: object) -> Wire | None:
    """The :class:`Wire` of an upgraded plain TCP connection made by httpcore over anyio's
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
    wire = Wire(transport, buffered, eof, getattr(protocol, "exception", None))
    transport.set_protocol(wire)
    transport.set_write_buffer_limits()  # anyio's 0 would report a full buffer on every write
    transport.resume_reading()  # anyio pauses reading between its reads
    return wire


class ReceiveDeadline:
    """How long one receive may still wait for bytes, with no I/O of its own (so that the
    asyncio driver and the gevent load client bound a receive the same way).

    A receive measures the server's silence: ``wait`` seconds, started again by
    :meth:`progress` whenever bytes arrive (decoding them is the client's time, not the
    server's), but never more than ``factor`` × ``wait`` in all, so that a server that keeps
    sending bytes without ever completing a message cannot hold the receive forever.
    """

    def __init__(self, wait: float, factor: float = RECEIVE_FACTOR) -> None:
        start = time.monotonic()
        self.wait = wait
        self._deadline = start + wait
        self._limit = start + wait * factor

    def remaining(self) -> float:
        """Seconds left; zero or less means the receive ends as silence."""
        return min(self._deadline, self._limit) - time.monotonic()

    def progress(self) -> None:
        """Bytes came: the server is not silent."""
        self._deadline = time.monotonic() + self.wait


@dataclass
class Decoded:
    """What one batch of bytes from the server said."""

    #: Complete messages, in order.
    messages: list[Event] = field(default_factory=list)
    #: Bytes to write back: pongs, the answer to the server's close.
    reply: bytes = b""
    #: The close (or the framing failure) that ended the connection, if any.
    final: Event | None = None
    #: The server broke the framing: the client fails the connection and lets the socket go.
    broken: bool = False
    #: Bytes that came after the server's close frame in the same batch.
    after_close: int = 0


class MessageSizeLimit(Extension):
    """Fails the connection with 1009 when a frame header would take a message past
    ``limit`` bytes: the frame's announced length is judged before any of its payload is
    kept, and continuation frames count towards their message.

    A wsproto extension because wsproto calls ``frame_inbound_header`` with every parsed
    header (its public hook); it is never offered in a handshake, only used to decode.
    """

    name = "wscheck-message-size-limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: The length of the message so far, announced frames included.
        self._message = 0
        #: What the server announced when it went over the limit.
        self.announced: int | None = None

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool:
        return False

    def frame_inbound_header(self, proto: FrameDecoder | FrameProtocol, opcode: Opcode,
                             rsv: RsvBits, payload_length: int) -> CloseReason | RsvBits:
        if not opcode.iscontrol():
            if opcode is not Opcode.CONTINUATION:
                self._message = 0
            self._message += payload_length
            if self._message > self.limit:
                self.announced = self._message
                return CloseReason.MESSAGE_TOO_BIG
        return RsvBits(False, False, False)


class Frames:
    """wsproto, the sans-I/O codec httpx-ws uses too, speaking the kit's events.

    Messages are bounded by ``max_size`` bytes (see :class:`MessageSizeLimit`); parts of a
    message are kept only up to that bound. With ``keep`` set (the runner sets it to what its
    transcript keeps whole, see :meth:`clip_texts_beyond`), a text message longer than
    ``keep`` characters is clipped while it arrives (:class:`~wscheck.core.limits.KeptText`): the
    runner would clip it the moment it is recorded anyway, and several connections each
    holding a whole 16 MiB reply at once were most of a run's memory against a server
    answering everything with one.
    """

    def __init__(self, max_size: int, keep: int | None = None) -> None:
        self._limit = MessageSizeLimit(max_size)
        self._ws = WsConnection(ConnectionType.CLIENT, extensions=[self._limit])
        #: Text messages longer than this many characters are clipped as they arrive.
        self.keep = keep
        # Parts of a binary message that arrived over several reads or frames.
        self._parts: list[bytes | bytearray] = []
        # The text message arriving, if any.
        self._text: KeptText | None = None

    def encode(self, event: ws_events.Event) -> bytes:
        """The bytes of ``event``; nothing once the connection is closed (the server's close
        frame is in and read, and the reader reports it)."""
        try:
            return self._ws.send(event)
        except LocalProtocolError:
            return b""

    def text(self, text: str) -> bytes:
        return self.encode(ws_events.TextMessage(data=text))

    def binary(self, data: bytes) -> bytes:
        return self.encode(ws_events.BytesMessage(data=data))

    def close(self, code: int) -> bytes:
        return self.encode(ws_events.CloseConnection(code))

    def decode(self, data: bytes) -> Decoded:
        """Feed bytes from the server; events after a close frame are ignored."""
        self._ws.receive_data(data)
        out = Decoded()
        reply = bytearray()
        for event in self._ws.events():
            if isinstance(event, ws_events.TextMessage):
                if self._text is None:
                    self._text = KeptText(sys.maxsize if self.keep is None else self.keep)
                self._text.add(event.data)
                if event.message_finished:
                    out.messages.append(self._whole_text())
            elif isinstance(event, ws_events.BytesMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    parts, self._parts = self._parts, []
                    out.messages.append(Binary(b"".join(parts)))
            elif isinstance(event, ws_events.Ping):
                reply += self.encode(event.response())
            elif isinstance(event, ws_events.CloseConnection):
                reply += self._on_close(event, out)
                if not out.broken:
                    out.after_close = self._unparsed()
                break
            # Pongs answer pings this client never sends: nothing to do.
        out.reply = bytes(reply)
        return out

    def _unparsed(self) -> int:
        """How many received bytes wsproto holds unparsed: after a close frame, bytes the
        server sent after it (reads wsproto's private frame buffer; 0 if it changed)."""
        decoder = getattr(getattr(self._ws, "_proto", None), "_frame_decoder", None)
        buffer = getattr(decoder, "buffer", None)
        try:
            return max(len(buffer) - int(getattr(buffer, "bytes_used", 0)), 0)  # type: ignore[arg-type]
        except TypeError:
            return 0

    def _whole_text(self) -> Text:
        kept, self._text = self._text, None
        assert kept is not None
        if kept.clipped:
            return Text(kept.text(), original=(kept.chars, kept.octets))
        return Text(kept.text())

    def _on_close(self, event: ws_events.CloseConnection, out: Decoded) -> bytes:
        state = self._ws.state
        if state not in (ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED):
            # A close frame moves wsproto to REMOTE_CLOSING (or CLOSED when it answers ours).
            # A CloseConnection that leaves the state alone is wsproto reporting a frame it
            # could not parse, with the code *we* must fail the connection with (RFC 6455
            # §7.1.7).
            announced = self._limit.announced
            problem = (f"server sent a message of {announced} bytes, over the client's "
                       f"limit of {self._limit.limit}" if announced is not None
                       else f"server broke the WebSocket framing: {event.reason}")
            out.final = TransportError(
                f"{problem} (the client failed the connection with {int(event.code)})")
            out.broken = True
            return self.encode(ws_events.CloseConnection(event.code, event.reason))
        out.final = Closed(int(event.code), event.reason or "")
        if state is ConnectionState.REMOTE_CLOSING:
            # Answer the server's close, echoing its code as RFC 6455 §5.5.1 asks.
            return self.encode(event.response())
        return b""
