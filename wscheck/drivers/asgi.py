"""The in-process driver: calls an ASGI app directly with ASGI messages.

Why not httpx-ws's ``ASGIWebSocketTransport`` or Starlette's ``TestClient``? Both run the app
behind a second layer of queues and threads, which costs an order of magnitude in speed, and
both hide exactly what a conformance kit must see: httpx-ws crashes on a ``websocket.close``
without the optional ``reason`` key and turns app exceptions into a bare 1011. This driver
keeps the app in the caller's event loop, accepts every message the ASGI spec allows, and
reports what only an in-process client can see: a close before accept with its code, an
exception inside the app, and breaches of the ASGI protocol.

It can also *know* silence instead of waiting for it. When the app is blocked in ``receive()``
with nothing queued, and the event loop has nothing runnable and no timer other than the
kit's own, nothing can happen until the client acts; waits end at once. Apps that sleep, wait
on threads or on I/O keep the ordinary deadline, so the shortcut never changes a verdict.

A hostile app is bounded too: a message over ``max_message_size`` fails the connection with
1009, an app that sends faster than the client reads waits in ``send()`` (backpressure), and a
watchdog thread (:mod:`._watchdog`) ends an app that blocks the event loop or whose tasks
ignore cancellation; ``KeyboardInterrupt``, ``SystemExit`` and ``loop.stop()`` from the app are
the app's failure, not the end of the kit's loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, NoReturn
from urllib.parse import quote

from wscheck.core.events import (
    FINAL_EVENTS,
    Accepted,
    AppCrashed,
    AppExited,
    AppLogged,
    Binary,
    Closed,
    Event,
    Flooded,
    ProtocolViolation,
    Refused,
    Silence,
    Text,
    TransportError,
)
from wscheck.drivers._appguard import (
    AppInterrupted,
    ASGIApp,
    Message,
    Receive,
    Send,
    call_app,
    guard_loop,
)
from wscheck.drivers._applog import app_context, describe_record, watch_loop
from wscheck.drivers._idle import may_be_busy, monitor_for
from wscheck.drivers._mute import MuteWatch, TargetStoppedAnswering
from wscheck.drivers._watchdog import (
    STALL_FACTOR,
    AppBlockedLoop,
    LoopBlocked,
    on_last_words,
    watchdog_for,
)
from wscheck.drivers.base import FLOOD_FACTOR, MAX_MESSAGE_SIZE, Pairs, query_string
from wscheck.drivers.lifespan import LifespanStartupFailed, lifespan
from wscheck.errors import ClientDisconnected, WscheckError

__all__ = ["ASGIApp", "AppBlockedLoop", "AppInterrupted", "AsgiConnection", "AsgiDriver",
           "ClientDisconnected", "LifespanStartupFailed", "LoopBlocked", "Receive", "Send",
           "TargetStoppedAnswering", "lifespan", "on_last_words"]


#: The ``Origin`` a browser sends on a page the app served: the scope's scheme and host.
ORIGIN = "http://testserver"

#: Close codes that RFC 6455 reserves and an endpoint must never send.
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


#: Messages the app may have sent that the client has not read yet, and their total size,
#: before its ``send()`` waits for the client to read (what a full TCP window does to a
#: server). An app that sends without end then waits, instead of filling memory, and the
#: conversation records at most ``runner.MAX_EXTRA_EVENTS`` of what it sent. When the app
#: then has sent more than ``FLOOD_FACTOR`` × the client's messages it is flooding instead
#: (see :meth:`AsgiConnection._flood`).
MAX_UNREAD_MESSAGES = 1000
MAX_UNREAD_BYTES = 4 * 1024 * 1024


class _ViolationError(WscheckError, RuntimeError):
    """Raised into the app after it broke the ASGI protocol, like a real server would."""


class AsgiConnection:
    """One WebSocket connection to an in-process app (see :class:`~wscheck.drivers.Connection`)."""

    def __init__(self, driver: AsgiDriver, scope: MutableMapping[str, Any]) -> None:
        self._driver = driver
        self._offered: list[str] = list(scope.get("subprotocols") or [])
        self._loop = asyncio.get_running_loop()
        self.handshake: Event = Silence(driver.timeout)
        self._state = "connecting"  # connecting | open | response | closed
        self._inbox: deque[Message] = deque([{"type": "websocket.connect"}])
        self._receiver: asyncio.Future[Message] | None = None
        self._events: deque[Event] = deque()
        self._final: Event | None = None
        self._client_gone = False
        self._gone_code = 1006
        self._response_status = 0
        self._violation: _ViolationError | None = None
        self._late_error: Event | None = None
        self._waiters: list[asyncio.Future[bool]] = []
        #: Sizes of the unread messages in ``_events`` (for backpressure), and their total.
        self._unread_bytes = 0
        #: The app's ``send()`` waits on this while the client is behind (backpressure).
        self._writable: asyncio.Future[None] | None = None
        #: The first ERROR record the app made once the client had left (``/ws`` 7).
        self._logged: AppLogged | None = None
        #: Messages each side sent on this connection (what tells a flood from a backlog).
        self._client_messages = 0
        self._app_messages = 0
        self._monitor = monitor_for(self._loop)
        # Made inside the app's context, the task runs in (a copy of) it: see _applog.
        self._task = app_context(self._app_logged).run(self._loop.create_task,
                                                       self._run(scope))
        driver._tasks.add(self._task)
        self._task.add_done_callback(driver._tasks.discard)

    # --- the app's side --------------------------------------------------------------------

    async def _run(self, scope: MutableMapping[str, Any]) -> None:
        try:
            await call_app(self._driver.app, scope, self._app_receive, self._app_send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the app's failure is an observation, not ours
            if exc is self._violation:
                pass
            elif self._final is None and not self._client_gone:
                self._finish(AppCrashed(f"{type(exc).__name__}: {exc}"))
            elif self._late_error is None:
                self._late_error = AppCrashed(f"{type(exc).__name__}: {exc}")
        else:
            if self._final is None:
                self._finish(AppExited())
        finally:
            self._notify()

    async def _app_receive(self) -> Message:
        if self._inbox:
            return self._inbox.popleft()
        if self._client_gone or self._state == "closed":
            return {"type": "websocket.disconnect", "code": self._gone_code}
        self._receiver = self._loop.create_future()
        self._notify()  # the app may have just become idle
        try:
            return await self._receiver
        finally:
            self._receiver = None

    async def _app_send(self, message: object) -> None:
        # Typed as ``object``: an app may send anything, and anything but a dict is its error.
        if not isinstance(message, Mapping):
            self._violate(f"sent a {type(message).__name__}, not an ASGI message dict")
        kind = message.get("type")
        state = self._state
        if self._client_gone:
            if kind == "websocket.close":
                return  # closing a connection the client already left is harmless
            raise ClientDisconnected("the client has disconnected")
        if state == "closed":
            self._violate(f"sent {kind!r} after the connection was closed", after_close=True)
        if kind == "websocket.accept":
            if state != "connecting":
                self._violate("sent 'websocket.accept' twice")
            unoffered = self._unoffered(message)
            if unoffered is not None:
                # What the server would put in its 101 answer, which the client must fail
                # (RFC 6455 §4.1) as the network driver does: the app sees the client gone.
                self._client_gone = True
                self._finish(TransportError(
                    f"the app accepted with {unoffered} (RFC 6455 §4.1: the client must fail "
                    "the connection)"))
                return
            self._state = "open"
            self._push(Accepted())
        elif kind == "websocket.send":
            if state != "open":
                self._violate("sent 'websocket.send' before 'websocket.accept'")
            text, data = message.get("text"), message.get("bytes")
            event: Event
            if isinstance(text, str) and data is None:
                size = length = len(text)
                if length > self._driver.max_message_size // 4:  # UTF-8 needs 1-4 bytes
                    size = len(text.encode("utf-8", "surrogatepass"))
                event = Text(text)
            elif isinstance(data, (bytes, bytearray)) and text is None:
                size = length = len(data)
                event = Binary(bytes(data))
            else:
                self._violate("'websocket.send' needs exactly one of 'text' (str) or 'bytes'")
            if size > self._driver.max_message_size:
                self._too_big(size)
                return
            self._unread_bytes += length  # characters for text: what _took subtracts
            self._app_messages += 1
            self._push(event)
            if (len(self._events) > MAX_UNREAD_MESSAGES
                    or self._unread_bytes > MAX_UNREAD_BYTES):
                if self._app_messages > FLOOD_FACTOR * self._client_messages:
                    self._flood()
                    return
                await self._backpressure()
        elif kind == "websocket.close":
            code = message.get("code")
            code = 1000 if code is None else code  # optional: missing means 1000
            if type(code) is not int or not 1000 <= code <= 4999 or code in _RESERVED_CODES:
                self._violate(f"'websocket.close' code must be a WebSocket close code an "
                              f"endpoint may send (an int, 1000-4999, not 1004-1006 or "
                              f"1015), got {code!r}")
            if state == "connecting":
                self._finish(Refused(close_code=code))
            elif state == "open":
                self._finish(Closed(code, str(message.get("reason") or "")))
            else:
                self._violate("sent 'websocket.close' during a denial response")
        elif kind == "websocket.http.response.start":
            if state != "connecting":
                self._violate("sent 'websocket.http.response.start' after the handshake")
            status = message.get("status")
            if type(status) is not int or not 100 <= status <= 599:
                self._violate(f"'websocket.http.response.start' status must be an HTTP "
                              f"status (an int, 100-599), got {status!r}")
            self._state = "response"
            self._response_status = int(status)
        elif kind == "websocket.http.response.body":
            if state != "response":
                self._violate("sent 'websocket.http.response.body' before its start")
            if not message.get("more_body", False):
                self._finish(Refused(status=self._response_status))
        else:
            self._violate(f"sent unknown message type {kind!r}")

    def _app_logged(self, record: logging.LogRecord) -> None:
        """A record at ERROR or above the app made (see :mod:`._applog`). Kept once the
        client has left or the connection is over: what the protocol asks there is a quiet
        end; an error logged while serving is the other checks' concern (what they see)."""
        if self._logged is None and (self._client_gone or self._final is not None):
            self._logged = AppLogged(record.levelname, record.name, describe_record(record))

    def _unoffered(self, message: Mapping[str, Any]) -> str | None:
        """What a ``websocket.accept`` selects that the client never offered, in the network
        driver's words; ``None`` when it selects nothing unoffered. The kit offers no
        subprotocol (the scope's ``subprotocols`` is empty) and no extension, so a
        ``subprotocol`` or a ``Sec-WebSocket-Extensions`` / ``-Protocol`` header in the
        accept's ``headers`` is one the server chose alone."""
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self._offered:
            return (f"subprotocol {str(subprotocol)[:80]!r}, a subprotocol the client never "
                    "asked for")
        headers = message.get("headers") or ()
        try:
            pairs = [(bytes(name).lower(), bytes(value)) for name, value in headers]
        except (TypeError, ValueError):
            self._violate("sent 'websocket.accept' headers that are not [name, value] byte "
                          "pairs")
        for name, value in pairs:
            shown = value.decode("latin-1")[:80]
            if name == b"sec-websocket-extensions" and value.strip():
                return (f"Sec-WebSocket-Extensions: {shown!r} in its headers, an extension "
                        "the client never offered")
            if name == b"sec-websocket-protocol" and value.strip() \
                    and value.strip().decode("latin-1") not in self._offered:
                return (f"Sec-WebSocket-Protocol: {shown!r} in its headers, a subprotocol the "
                        "client never asked for")
        return None

    def _violate(self, problem: str, *, after_close: bool = False) -> NoReturn:
        self._violation = _ViolationError(f"ASGI protocol violation: the app {problem}")
        event = ProtocolViolation(f"the app {problem}", after_close)
        if self._final is None:
            self._finish(event)
            if self._client_gone and self._late_error is None:
                # The client left before the connection ended (a handshake that never came,
                # say): it reads no more events, so only finish() can tell it.
                self._late_error = event
        elif self._late_error is None:
            self._late_error = event  # after the close: reported by finish()
        raise self._violation

    def _too_big(self, size: int) -> None:
        """The client fails the connection with 1009, as the network driver does: the app
        sees the client leave, the transcript says why."""
        limit = self._driver.max_message_size
        self._client_gone = True
        self._gone_code = 1009
        self._finish(TransportError(
            f"the app sent a message of {size} bytes, over the client's limit of {limit} "
            "(the client failed the connection with 1009)"))

    def _flood(self) -> None:
        """The client is far behind and the app has sent more than the conversation could
        ask for: it floods. The client stops reading and fails the connection with 1008; the
        unread messages become one :class:`Flooded` event that counts them, so that the
        transcript (and the check's failure) says why, and memory holds none of them."""
        unread = [e for e in self._events if isinstance(e, (Text, Binary))]
        size = sum(len(e.text.encode("utf-8", "surrogatepass")) if isinstance(e, Text)
                   else len(e.data) for e in unread)
        self._events = deque(e for e in self._events if not isinstance(e, (Text, Binary)))
        self._unread_bytes = 0
        self._client_gone = True
        self._gone_code = 1008
        self._finish(Flooded(len(unread), size))

    async def _backpressure(self) -> None:
        """Wait while the client is too far behind (bounded by the client reading or
        leaving; the conversation's own deadlines bound those)."""
        while (len(self._events) > MAX_UNREAD_MESSAGES
               or self._unread_bytes > MAX_UNREAD_BYTES) and not self._client_gone:
            self._writable = self._loop.create_future()
            try:
                await self._writable
            finally:
                self._writable = None
        if self._client_gone:
            raise ClientDisconnected("the client has disconnected")

    def _took(self, event: Event) -> None:
        """The client read ``event``: account for it, and let a waiting sender go on."""
        if isinstance(event, Text):
            self._unread_bytes -= len(event.text)
        elif isinstance(event, Binary):
            self._unread_bytes -= len(event.data)
        self._unread_bytes = max(self._unread_bytes, 0)
        writable = self._writable
        if writable is not None and not writable.done() and (
                len(self._events) <= MAX_UNREAD_MESSAGES // 2
                and self._unread_bytes <= MAX_UNREAD_BYTES // 2):
            writable.set_result(None)

    def _push(self, event: Event) -> None:
        self._events.append(event)
        if not isinstance(event, Accepted):
            # A sign of life. An accept is not: an app whose framework accepts but whose
            # handler never speaks is as mute as one that never accepts (as a 101 is).
            self._driver._mute.heard()
        self._notify()

    def _finish(self, event: Event) -> None:
        if self._final is not None:
            return
        self._final = event
        self._state = "closed"
        self._push(event)
        if self._receiver is not None and not self._receiver.done():
            self._receiver.set_result({"type": "websocket.disconnect",
                                       "code": self._gone_code})

    def _release_sender(self) -> None:
        writable = self._writable
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _notify(self) -> None:
        for w in self._waiters:
            if not w.done():
                w.set_result(False)
        self._waiters.clear()
        self._monitor.kick()  # this app may have just become idle, or the whole loop

    # --- waiting ---------------------------------------------------------------------------

    def _app_waiting(self) -> bool:
        """The app sits in ``receive()`` with nothing queued for it, or has finished."""
        receiver = self._receiver
        return (receiver is not None and not receiver.done() and not self._inbox) \
            or self._task.done()

    async def _wait(self, deadline: float, done: Callable[[], bool]) -> None:
        """Return once ``done()``, or the app is known idle or finished, or at ``deadline``."""
        loop = self._loop
        if not done() and may_be_busy(loop):
            # Usually the app answers within the turn it is already scheduled for: give it
            # that turn before paying for a future, a deadline timer and the monitor.
            await asyncio.sleep(0)
        while not done() and loop.time() < deadline:
            # Sleep until this connection changes (``_notify``), the monitor knows the app
            # idle, or the deadline: no polling, whatever runs meanwhile.
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_at(deadline, _wake, waiter)
            self._monitor.watch(waiter, self._app_waiting, timer)
            try:
                if await waiter:
                    return
            finally:
                timer.cancel()
                self._monitor.unwatch(waiter, timer)

    async def _next(self, timeout: float) -> Event | None:
        """The next event; None when the app is known idle or finished, or time ran out."""
        if not self._events:
            await self._wait(self._loop.time() + timeout, lambda: bool(self._events))
        if not self._events:
            return None
        event = self._events.popleft()
        self._took(event)
        return event

    # --- the client's side -----------------------------------------------------------------

    async def _handshake(self) -> None:
        started, start = time.monotonic(), self._loop.time()
        event = await self._next(self._driver.timeout)
        if event is None:
            # Known silent, or out of time: either way the app never answered the handshake.
            self.handshake = Silence(self._driver.timeout)
            if self._loop.time() - start >= self._driver.timeout:  # waited out in full
                self._driver._mute.ran_out(started, "a handshake answer "
                                           f"({self._driver.timeout:g}s)", fail=False)
            return
        self.handshake = event
        if not isinstance(event, FINAL_EVENTS):
            return
        self._events.appendleft(event)  # receive() keeps returning the final event

    def _deliver(self, message: Message) -> None:
        if self._final is not None or self._client_gone:
            return
        if message["type"] == "websocket.receive":
            self._client_messages += 1
        if self._receiver is not None and not self._receiver.done():
            self._receiver.set_result(message)
        else:
            self._inbox.append(message)

    async def send_text(self, text: str) -> None:
        self._deliver({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        self._deliver({"type": "websocket.receive", "bytes": data})

    async def receive(self, timeout: float | None = None) -> Event:
        """The next event, or ``Silence``; raises :class:`TargetStoppedAnswering` when this
        wait is the last straw (see :class:`.MuteWatch`)."""
        if self._final is not None and not self._events:
            return self._final
        self._driver._mute.check()
        wait = self._driver.timeout if timeout is None else timeout
        started, start = time.monotonic(), self._loop.time()
        event = await self._next(wait)
        if event is None:
            if self._loop.time() - start < wait:
                # Known idle before the deadline: say so, rather than claim we waited.
                return Silence(0.0)
            # A shorter wait than the driver's timeout is the caller listening for silence
            # on purpose, not a reply the app owes.
            if wait >= self._driver.timeout:
                self._driver._mute.ran_out(started, f"a reply ({wait:g}s)")
            return Silence(wait)
        return event

    async def quiet(self, window: float | None = None) -> Event | None:
        if self._final is not None and not self._events:
            return None
        wait = self._driver.quiet_window if window is None else window
        return await self._next(wait)

    async def _leave(self, code: int) -> None:
        if self._final is None and not self._client_gone:
            self._deliver({"type": "websocket.disconnect", "code": code})
            self._client_gone = True
            self._gone_code = code
        self._release_sender()
        await self.finish()

    async def close(self, code: int = 1000) -> None:
        await self._leave(code)

    async def drop(self) -> None:
        await self._leave(1006)

    async def finish(self, timeout: float | None = None) -> Event | None:
        """Wait (bounded) for the app to end this conversation after the client left or the
        server closed; returns what went wrong on the way out (``AppCrashed`` or
        ``ProtocolViolation`` after the close, else the first ``AppLogged`` record at ERROR
        or above), else ``None``."""
        wait = self._driver.timeout if timeout is None else timeout
        await self._wait(self._loop.time() + wait, self._task.done)
        return self._late_error or self._logged


def _wake(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)  # the deadline: stop waiting


class AsgiDriver:
    """Opens in-process connections to an ASGI app (see :class:`~wscheck.drivers.Driver`).

    The app runs in the caller's event loop; use :func:`lifespan` around the driver to run the
    app's startup and shutdown.
    """

    kind = "asgi"

    def __init__(self, app: ASGIApp, *, target: str = "app", timeout: float = 2.0,
                 quiet_window: float = 0.2, max_message_size: int = MAX_MESSAGE_SIZE,
                 stall_timeout: float | None = None) -> None:
        self.app = app
        self.target = target
        self.timeout = timeout
        #: How long the app may block the event loop before the watchdog acts (see
        #: :mod:`._watchdog`); default ``timeout`` × ``STALL_FACTOR``.
        self.stall_timeout = timeout * STALL_FACTOR if stall_timeout is None else stall_timeout
        #: A larger message from the app fails the connection with 1009, as over the network.
        self.max_message_size = max_message_size
        #: How long :meth:`AsgiConnection.quiet` waits when idleness cannot be known (the app
        #: has a timer pending, or waits on a thread or on I/O).
        self.quiet_window = quiet_window
        self._tasks: set[asyncio.Task[None]] = set()
        self._port = 50000
        #: An app that answered once and then stops answering (it awaits forever, the loop
        #: not blocked) stops the run once, as a mute network target does.
        self._mute = MuteWatch(target, "not a message")

    async def connect(self, path: str, query: Pairs = (), cookies: Pairs = (), *,
                      origin: bool = False) -> AsgiConnection:
        """Open a connection; raises :class:`LoopBlocked` once the app has blocked the loop
        (no later conversation could be trusted: the run stops with that message), and
        :class:`TargetStoppedAnswering` once it counts as mute (see :class:`.MuteWatch`).
        ``origin`` adds ``Origin: http://testserver``, the origin of a page this app served
        under the scope's own host."""
        self._mute.check()
        loop = asyncio.get_running_loop()
        guard_loop(loop)
        watch_loop(loop)
        watchdog = watchdog_for(loop, self.stall_timeout)
        watchdog.linger("driver", None)  # used again after aclose
        if watchdog.blocked is not None:
            raise LoopBlocked(watchdog.blocked)
        encoded = query_string(query, "%20")
        headers = [
            (b"host", b"testserver"),
            (b"connection", b"upgrade"),
            (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        if origin:
            headers.append((b"origin", ORIGIN.encode("ascii")))
        if cookies:
            headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies).encode()))
        self._port = self._port + 1 if self._port < 65000 else 50000
        scope: MutableMapping[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", self._port),
            "root_path": "",
            "path": path,
            "raw_path": quote(path).encode(),
            "query_string": encoded.encode(),
            "headers": headers,
            "subprotocols": [],
            "extensions": {"websocket.http.response": {}},
        }
        connection = AsgiConnection(self, scope)
        await connection._handshake()
        return connection

    @property
    def stopped_answering(self) -> str | None:
        """Why the app counts as mute (see :class:`.MuteWatch`), or ``None``: the check during
        which it went mute is reported as the run's stop, whatever it concluded."""
        return self._mute.stopped

    async def aclose(self) -> None:
        """Cancel the app's connections still running and wait (bounded) for them to end.

        On a loop of its own thread (the run's), the loop ends next: the watchdog then gives
        it a bound, so that app tasks ignoring cancellation cannot keep the process alive
        (see :mod:`._watchdog`). On any other loop only the app's connections that ignored
        this cancellation count.
        """
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout)
        loop = asyncio.get_running_loop()
        stubborn = [t for t in tasks if not t.done()]
        if stubborn or threading.current_thread() is not threading.main_thread():
            watchdog_for(loop, self.stall_timeout).linger(
                "driver", "the app's tasks ignored cancellation and kept the run from ending")
