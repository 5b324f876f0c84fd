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

A client that has left is what it is behind a server: every send of the app then fails, a
close included, with an ``OSError`` subclass (``ClientDisconnected``, as uvicorn's), and the
app gives up the loop once after its accept, so that a client may leave before its next send.
A client may also vanish *unnoticed* (:meth:`AsgiConnection.drop_unnoticed`): the app's
``receive()`` returns the disconnect only once a send to it has failed, as when a server has
not read the client's FIN yet while another client's message makes the app send to it.

A hostile app is bounded too: a message over ``max_message_size`` fails the connection with
1009, an app that sends faster than the client reads waits in ``send()`` (backpressure), and a
watchdog thread (:mod:`._watchdog`) ends an app that blocks the event loop or whose tasks
ignore cancellation; ``KeyboardInterrupt``, ``SystemExit`` and ``loop.stop()`` from the app are
the app's failure, not the end of the kit's loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from wscheck.core.cookies import cookie_header
from wscheck.core.defaults import DEFAULT_QUIET_WINDOW, DEFAULT_TIMEOUT
from wscheck.core.events import FINAL_EVENTS, Event, Silence
from wscheck.drivers._appguard import (
    AppInterrupted,
    ASGIApp,
    Message,
    Receive,
    Send,
    guard_loop,
)
from wscheck.drivers._applog import app_context, watch_loop
from wscheck.drivers._appside import AppSide
from wscheck.drivers._idle import may_be_busy
from wscheck.drivers._mute import MuteWatch, TargetStoppedAnswering
from wscheck.drivers._watchdog import (
    STALL_FACTOR,
    AppBlockedLoop,
    LoopBlocked,
    on_last_words,
    watchdog_for,
)
from wscheck.drivers.base import (
    MAX_MESSAGE_SIZE,
    Pairs,
    ReplyTimes,
    note_cut_short,
    query_string,
    reply_wait,
)
from wscheck.drivers.lifespan import LifespanStartupFailed, lifespan
from wscheck.errors import ClientDisconnected

__all__ = ["UNNOTICED_GRACE", "ASGIApp", "AppBlockedLoop", "AppInterrupted", "AsgiConnection",
           "AsgiDriver", "ClientDisconnected", "LifespanStartupFailed", "LoopBlocked", "Receive",
           "Send", "TargetStoppedAnswering", "lifespan", "on_last_words"]


#: How long after :meth:`AsgiConnection.drop_unnoticed` the app is told at the latest when
#: nothing sends to that connection meanwhile: far longer than an app takes to handle a
#: message already given to it, short enough that a room which never addresses the client
#: that vanished costs little.
UNNOTICED_GRACE = 1.0

#: The ``Origin`` a browser sends on a page the app served: the scope's scheme and host.
ORIGIN = "http://testserver"


class AsgiConnection(AppSide):
    """One WebSocket connection to an in-process app (see :class:`~wscheck.drivers.Connection`);
    this is the client's side, :class:`._appside.AppSide` the app's."""

    def __init__(self, driver: AsgiDriver, scope: MutableMapping[str, Any]) -> None:
        super().__init__(driver.app, scope, driver.max_message_size, driver._mute)
        self._driver = driver
        self.handshake: Event = Silence(driver.timeout)
        # Made inside the app's context, the task runs in (a copy of) it: see _applog.
        self._task = app_context(self._app_logged).run(self._loop.create_task,
                                                       self._run(scope))
        driver._tasks.add(self._task)
        self._task.add_done_callback(driver._tasks.discard)

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

    def next_app_timer(self) -> float | None:
        """See :class:`~wscheck.drivers.base.SeesAppTimers`."""
        due = self._monitor.next_timer()
        return None if due is None else max(0.0, due - self._loop.time())

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
        # A new string decoded from the wire form, as a server hands over: given the kit's
        # own object (an interned literal for the bye word), an app comparing with `is`
        # would pass in-process and fail behind every server.
        self._deliver({"type": "websocket.receive",
                       "text": text.encode("utf-8", "surrogatepass").decode("utf-8",
                                                                            "surrogatepass")})

    async def send_bytes(self, data: bytes) -> None:
        self._deliver({"type": "websocket.receive", "bytes": bytes(bytearray(data))})

    async def receive(self, timeout: float | None = None) -> Event:
        """The next event, or ``Silence``; raises :class:`TargetStoppedAnswering` when this
        wait is the last straw (see :class:`.MuteWatch`)."""
        if self._final is not None and not self._events:
            return self._final
        self._driver._mute.check()
        wait = reply_wait(self._driver.timeout) if timeout is None else timeout
        started, start = time.monotonic(), self._loop.time()
        event = await self._next(wait)
        if event is not None:
            self._driver.replies.saw(self._loop.time() - start)
        if event is None:
            if self._loop.time() - start < wait:
                # Known idle before the deadline: say so, rather than claim we waited.
                return Silence(0.0)
            # A shorter wait than the driver's timeout is the caller listening for silence
            # on purpose, not a reply the app owes.
            if wait >= self._driver.timeout:
                self._driver._mute.ran_out(started, f"a reply ({wait:g}s)")
            elif timeout is None:
                note_cut_short(wait, self._driver.timeout)
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

    async def drop_unnoticed(self, grace: float | None = None) -> None:
        """Vanish like :meth:`drop`, but the app is not told yet: its ``receive()`` returns
        the disconnect only once a send on this connection has failed (the send raises
        ``ClientDisconnected`` as after any leave), or after ``grace`` seconds (default
        :data:`UNNOTICED_GRACE`, at most the driver's timeout), or once :meth:`finish` waits
        for it. What a server does that has not read the client's FIN yet when another
        client's message makes the app send to it. Returns at once: the app is still in its
        conversation."""
        if self._final is None and not self._client_gone:
            wait = min(UNNOTICED_GRACE if grace is None else grace, self._driver.timeout)
            self._hold_disconnect(wait)
        self._release_sender()

    async def finish(self, timeout: float | None = None) -> Event | None:
        """Wait (bounded) for the app to end this conversation after the client left or the
        server closed; returns what went wrong on the way out (``AppCrashed`` or
        ``ProtocolViolation`` after the close, else the first ``AppLogged`` record at ERROR
        or above), else ``None``."""
        wait = self._driver.timeout if timeout is None else timeout
        self._notice_gone()  # waiting for the app's end: a client gone unnoticed is now told
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

    def __init__(self, app: ASGIApp, *, target: str = "app", timeout: float = DEFAULT_TIMEOUT,
                 quiet_window: float = DEFAULT_QUIET_WINDOW,
                 max_message_size: int = MAX_MESSAGE_SIZE,
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
        #: The slowest reply of the run, for bounded replays (``base.REPLY_BOUND``).
        self.replies = ReplyTimes()

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
            headers.append((b"cookie", cookie_header(cookies).encode()))
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
            # Servers always pass one; :func:`lifespan` fills it with a copy of the app's.
            "state": {},
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
