"""One network connection after its opening handshake: frames written, frames read and
decoded, a flood stopped, and the closing handshake (see :mod:`wscheck.drivers.url`).

A connection is meant to be used by one task at a time, except that sending while another
task waits in :meth:`~UrlConnection.receive` is fine (writes are serialised by a lock because
``receive`` answers pings).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

import httpcore
import httpx

from wscheck.core.events import (
    Accepted,
    Binary,
    Closed,
    Event,
    Flooded,
    ProtocolViolation,
    Silence,
    Text,
    TransportError,
)
from wscheck.drivers._neterrors import (
    READ_ERRORS,
    RELEASE_ERRORS,
    WRITE_ERRORS,
    MuteWatch,
    read_failure,
    time_lost,
)
from wscheck.drivers._wire import RECEIVE_FACTOR, Frames, ReceiveDeadline, take_over
from wscheck.drivers.base import (
    FLOOD_FACTOR,
    FLOOD_SLACK,
    ReplyTimes,
    note_cut_short,
    reply_wait,
)

__all__ = ["UrlConnection"]

#: How much one socket read may return; big enough that a 64 KiB message takes one read.
_READ_SIZE = 65536

# RECEIVE_FACTOR (_wire): one ``receive`` measures the server's silence, see ReceiveDeadline.


class UrlConnection:
    """One client connection; see :class:`wscheck.drivers.base.Connection` for the contract.

    ``_pending`` holds decoded messages not yet returned; ``_final`` is set the moment the
    connection ends (server close, transport failure, client close or drop) and is returned
    after the pending messages, then again on every later call.
    """

    handshake: Event

    def __init__(self, handshake: Event, response: httpx.Response | None = None, *,
                 timeout: float, quiet_window: float, max_message_size: int,
                 mute: MuteWatch, forget: Callable[[UrlConnection], None],
                 replies: ReplyTimes | None = None) -> None:
        self.handshake = handshake
        #: The driver's slowest reply so far (what a bounded replay may wait).
        self._replies = replies
        self._timeout = timeout
        self._quiet_window = quiet_window
        #: The driver's count of waits the target left unanswered, over all connections.
        self._mute = mute
        #: Tells the driver this connection is released.
        self._forget = forget
        self._response = response
        self._stream: httpcore.AsyncNetworkStream | None = (
            response.extensions["network_stream"] if response is not None else None
        )
        #: The fast path for plain ws:// (see :class:`._wire.Wire`); None: httpcore's stream.
        self._wire = take_over(self._stream) if self._stream is not None else None
        self._frames = Frames(max_message_size)
        self._write_lock = asyncio.Lock()
        self._pending: deque[Event] = deque()
        self._final: Event | None = None
        #: Bytes the server sent after its close frame (judged by ``finish``).
        self._after_close = 0
        #: Messages each side sent (what tells a flood from replies the client asked for).
        self._sent = 0
        self._received = 0
        # A handshake that failed is already an observation; quiet() must not repeat it.
        self._final_seen = False
        if not isinstance(handshake, Accepted):
            self._final = handshake
            self._final_seen = True

    # --- sending ---------------------------------------------------------------------------

    def clip_texts_beyond(self, keep: int) -> None:
        """Clip every text message longer than ``keep`` characters while it arrives, as the
        runner's transcript would clip it once recorded (see :class:`._wire.Frames`)."""
        self._frames.keep = keep

    async def send_text(self, text: str) -> None:
        """Send a text message; nothing happens once the connection has ended."""
        if self._final is None:
            self._sent += 1
            await self._write(self._frames.text(text))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message; nothing happens once the connection has ended."""
        if self._final is None:
            self._sent += 1
            await self._write(self._frames.binary(data))

    async def _write(self, data: bytes) -> None:
        """Write without raising: a write that fails because the server just closed or reset
        is not an observation in itself, the next read reports what really happened."""
        if self._stream is None or not data:
            return
        if self._wire is not None:
            await self._wire.write(data, self._timeout)
            return
        try:
            async with self._write_lock:
                await self._stream.write(data, timeout=self._timeout)
        except WRITE_ERRORS:
            pass  # the server closed or reset: the next read says which

    # --- receiving -------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Event:
        """The next server event, or ``Silence(timeout)``; the final event again once ended.

        Raises :class:`TargetStoppedAnswering` when this wait is the last straw (see
        :class:`.MuteWatch`)."""
        self._mute.check()
        start = time.monotonic()
        event = await self._receive(reply_wait(self._timeout) if timeout is None else timeout)
        # A shorter wait than the driver's timeout is the caller listening for silence on
        # purpose (a fixture user's receive(timeout=0.1)), not a reply the target owes.
        if isinstance(event, Silence):
            if event.seconds >= self._timeout:
                self._mute.ran_out(start, f"a reply ({event.seconds:g}s)")
            elif timeout is None:
                note_cut_short(event.seconds, self._timeout)
        elif self._replies is not None:
            self._replies.saw(time.monotonic() - start)
        return event

    async def _receive(self, timeout: float | None) -> Event:
        if self._pending:
            return self._pending.popleft()
        if self._final is None:
            wait = self._timeout if timeout is None else timeout
            deadline = ReceiveDeadline(wait, RECEIVE_FACTOR)
            while not self._pending and self._final is None:
                remaining = deadline.remaining()
                if remaining <= 0 or not await self._read(remaining):
                    return Silence(wait)
                deadline.progress()  # bytes came: not silent, however long decoding took
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
        event = await self._receive(self._quiet_window if window is None else window)
        return None if isinstance(event, Silence) else event

    async def _read(self, timeout: float) -> bool:
        """One socket read, decoded into ``_pending`` / ``_final``; False when it timed out."""
        try:
            data = await self._recv(timeout)
        except READ_ERRORS as exc:
            self._mute.heard()
            await self._end(read_failure(exc))
            return True
        if data is None:
            return False
        self._mute.heard()
        if not data:
            await self._end(TransportError("connection dropped without a close frame (1006)"))
            return True
        decoded = self._frames.decode(data)
        self._pending.extend(decoded.messages)
        self._received += len(decoded.messages)
        self._after_close += decoded.after_close
        await self._write(decoded.reply)
        if decoded.final is None and (
                self._received > FLOOD_FACTOR * self._sent + FLOOD_SLACK):
            await self._flood()
        elif decoded.final is not None:
            await self._end(decoded.final)
            if decoded.broken:
                await self._release()
        return True

    async def _flood(self) -> None:
        """The server sent far more messages than the conversation could ask for (see
        ``FLOOD_FACTOR``): the client fails the connection with 1008 and its unread messages
        become one :class:`Flooded`, so that neither memory nor a wait (``close`` reading
        towards a close frame behind them) grows with the flood."""
        unread = [e for e in self._pending if isinstance(e, (Text, Binary))]
        size = sum((e.original[1] if e.original is not None
                    else len(e.text.encode("utf-8", "surrogatepass"))) if isinstance(e, Text)
                   else len(e.data) for e in unread)
        self._pending = deque(e for e in self._pending if not isinstance(e, (Text, Binary)))
        await self._write(self._frames.close(1008))
        await self._end(Flooded(len(unread), size))
        await self._release()

    async def _recv(self, timeout: float) -> bytes | None:
        """Bytes from the server, ``b""`` at its end, ``None`` when none came in time (time
        the kit itself could not listen does not count, see :func:`.time_lost`)."""
        started = time.monotonic()
        data = await self._recv_once(timeout)
        if data is None:
            more = time_lost(started, timeout, time.monotonic())
            if more:
                data = await self._recv_once(more)
        return data

    async def _recv_once(self, timeout: float) -> bytes | None:
        if self._wire is not None:
            return await self._wire.read(timeout)
        assert self._stream is not None
        try:
            return await self._stream.read(_READ_SIZE, timeout=timeout)
        except httpcore.ReadTimeout:
            return None

    async def _end(self, final: Event) -> None:
        if self._final is None:
            self._final = final

    # --- ending ----------------------------------------------------------------------------

    async def close(self, code: int = 1000) -> None:
        """Send a close frame and wait for the server's reply and for the server to close TCP
        first (RFC 6455 §7.1.1); never raises for anything the server does. The wait ends
        after the driver's timeout with not a byte from the server (each byte starts it
        again, up to ``RECEIVE_FACTOR`` × the timeout in all, as for a receive).

        Messages that arrive before the reply are kept for :meth:`receive`, and the reply is
        the final event. A server that does not answer in time ends as a ``TransportError``.
        """
        if self._stream is None:
            return
        # Reads and writes map the server's failures to events themselves; anything else
        # raised here is the kit's own bug and propagates (the socket is released anyway).
        try:
            started = time.monotonic()
            # Progress-based, like a receive: the server's silence counts, not the time the
            # kit spends decoding what it did send (see ReceiveDeadline).
            deadline = ReceiveDeadline(self._timeout, RECEIVE_FACTOR)
            if self._final is None:
                await self._write(self._frames.close(code))
                while self._final is None:
                    remaining = deadline.remaining()
                    if remaining <= 0 or not await self._read(remaining):
                        await self._end(TransportError(
                            f"no close frame in reply within {self._timeout:g}s"
                        ))
                        # Owed by the target too; the next connect or receive stops the run.
                        self._mute.ran_out(started, "the reply to a close frame",
                                           fail=False)
                        break
                    deadline.progress()
            if isinstance(self._final, Closed):
                await self._await_eof(min(deadline.remaining(), self._quiet_window))
        finally:
            await self._release()

    async def _await_eof(self, timeout: float) -> None:
        """Give the server a moment to close TCP first; bytes it sends after its close frame
        are counted (``finish`` reports them), never parsed."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = await self._recv(remaining)
            except READ_ERRORS:
                return
            if not data:
                return
            self._after_close += len(data)

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
            with contextlib.suppress(OSError):  # already reset: it vanishes either way
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._end(TransportError("the client dropped the connection"))
        await self._release()

    async def finish(self, timeout: float | None = None) -> Event | None:
        """After a server's close, listen until it closes TCP (at most the quiet window);
        bytes it sent after its close frame are a ``ProtocolViolation`` with ``after_close``,
        otherwise ``None``: a network client cannot see the server's insides (an app that
        crashes on the way out shows, at most, in the server's own logs)."""
        if isinstance(self._final, Closed) and self._stream is not None:
            try:
                await self._await_eof(self._quiet_window if timeout is None else
                                      min(timeout, self._quiet_window))
            finally:
                await self._release()
        if self._after_close:
            return ProtocolViolation(
                f"the server sent {self._after_close} bytes after its close frame",
                after_close=True)
        return None

    async def _release(self) -> None:
        """Close the socket and give the pool slot back; idempotent, never raises."""
        response, self._response, self._stream = self._response, None, None
        if self._final is None:
            self._final = TransportError("connection released by the driver")
        self._forget(self)
        if response is not None:
            # Closing a socket that already failed: the conversation's outcome is recorded.
            with contextlib.suppress(*RELEASE_ERRORS):
                await response.aclose()
