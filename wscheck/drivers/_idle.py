"""Knowing that an in-process app is idle, by reading asyncio's internals.

This is the one module of the kit that reads private attributes of CPython's asyncio event
loop (``_ready``, ``_scheduled``, a handle's ``_scheduled``, ``_selector``, ``_ssock``); an
asyncio upgrade that changes them touches this file alone. Every read is guarded: when an
attribute is missing the loop is never declared idle, and waits fall back to their deadlines,
which costs time but never changes a verdict.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

__all__ = ["IdleMonitor", "may_be_busy", "monitor_for", "pause"]


class IdleMonitor:
    """Tells the connections of one event loop when nothing can happen until the client acts.

    A connection that waits registers a future here, with a test of whether its app waits.
    Whenever the monitor runs (it is scheduled with ``call_soon`` on every change and re-arms
    itself while the loop is busy) it looks whether the loop is idle: nothing else runnable, no
    timer but the kit's own deadlines, no socket watched but the loop's own wake-up pipe. If so,
    every waiting connection whose app sits in ``receive()`` (or has finished) is told at once.

    One monitor per loop and a single handle in the ready queue, however many connections
    wait: waiters sleep on their futures instead of polling, so ten thousand concurrent
    conversations cost ten thousand futures, not ten thousand spinning tasks each scanning
    the ready queue.

    A watched socket may bring the app a reply at any moment (a chat behind a broker, a
    database), so it keeps the ordinary deadline. What cannot be seen is a plain thread that
    will post to the loop with ``call_soon_threadsafe``; an app that relies on one should be
    run with a generous ``--wscheck-timeout`` over the network instead.

    This reads the private ``_ready``/``_scheduled``/``_selector`` of CPython's asyncio
    loops; on any other loop (uvloop) the monitor never declares idleness and the driver falls
    back to deadlines.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop_ref = weakref.ref(loop)
        self._waiting: dict[asyncio.Future[bool], Callable[[], bool]] = {}
        #: The deadline timers of the waits: they never wake an app, so they do not count.
        self._timers: set[asyncio.TimerHandle] = set()
        self._armed = False

    def watch(self, waiter: asyncio.Future[bool], app_waiting: Callable[[], bool],
              timer: asyncio.TimerHandle) -> None:
        """Resolve ``waiter`` with True once the loop is idle and ``app_waiting()`` holds;
        ``timer`` is the wait's own deadline, which does not count as pending work."""
        self._waiting[waiter] = app_waiting
        self._timers.add(timer)
        self.kick()

    def unwatch(self, waiter: asyncio.Future[bool], timer: asyncio.TimerHandle) -> None:
        self._waiting.pop(waiter, None)
        self._timers.discard(timer)

    def hold(self, timer: asyncio.TimerHandle) -> None:
        """Count ``timer`` as the kit's own (a pause of a check): it wakes no app."""
        self._timers.add(timer)

    def release(self, timer: asyncio.TimerHandle) -> None:
        self._timers.discard(timer)
        self.kick()

    def kick(self) -> None:
        """Look again soon (something changed); cheap when nobody waits."""
        if self._waiting and not self._armed:
            loop = self._loop_ref()
            if loop is not None:
                self._armed = True
                loop.call_soon(self._check)

    def _check(self) -> None:
        self._armed = False
        loop = self._loop_ref()
        if not self._waiting or loop is None:
            return
        if getattr(loop, "_ready", None):
            self.kick()  # something else runs in this cycle: look again after it
            return
        if not self._loop_idle(loop):
            return  # a foreign timer or socket: the next change kicks the monitor again
        for waiter, app_waiting in list(self._waiting.items()):
            if not waiter.done() and app_waiting():
                waiter.set_result(True)

    def _loop_idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True when, the ready queue being empty, nothing in ``loop`` can wake an app."""
        ready = getattr(loop, "_ready", None)
        scheduled = getattr(loop, "_scheduled", None)
        selector = getattr(loop, "_selector", None)
        wakeup = getattr(loop, "_ssock", None)
        if ready is None or scheduled is None or selector is None or wakeup is None:
            return False
        # Fast path: when every handle in the heap is one of the kit's own deadlines, nothing
        # else is scheduled. The heap's own counter of cancelled handles
        # (``_timer_cancelled_count``) is no help here: CPython does not decrement it when a
        # cancelled handle leaves the heap among the due ones, so it can exceed the cancelled
        # handles still there and hide a live timer of the app.
        timers = self._timers
        own = sum(1 for h in timers if getattr(h, "_scheduled", False))
        if len(scheduled) != own and not all(h.cancelled() or h in timers for h in scheduled):
            return False
        try:
            watched = selector.get_map()
            own = wakeup.fileno()
        except (AttributeError, RuntimeError, OSError):
            return False
        return all(fd == own for fd in watched)


_MONITORS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IdleMonitor] = (
    weakref.WeakKeyDictionary())


def monitor_for(loop: asyncio.AbstractEventLoop) -> IdleMonitor:
    """The one monitor of ``loop``."""
    monitor = _MONITORS.get(loop)
    if monitor is None:
        monitor = _MONITORS[loop] = IdleMonitor(loop)
    return monitor


def may_be_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` has callbacks ready to run this turn (True when it cannot be known):
    then the app usually answers within that turn, before a wait needs a future at all."""
    return bool(getattr(loop, "_ready", True))


async def pause(seconds: float) -> None:
    """Let ``seconds`` of wall-clock time pass on the running loop, on a timer the loop's
    monitor counts as the kit's own: a check that pauses before it speaks again (an app may
    behave differently after a while) must not make every other connection's app look busy,
    which would turn their instant silences into full quiet windows."""
    loop = asyncio.get_running_loop()
    monitor = monitor_for(loop)
    done: asyncio.Future[bool] = loop.create_future()
    timer = loop.call_later(seconds, _wake, done)
    monitor.hold(timer)
    try:
        await done
    finally:
        timer.cancel()
        monitor.release(timer)


def _wake(done: asyncio.Future[bool]) -> None:
    if not done.done():
        done.set_result(True)
