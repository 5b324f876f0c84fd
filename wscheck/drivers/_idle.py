"""Knowing that an in-process app is idle, by reading asyncio's internals.

This is the one module of the kit that reads private attributes of CPython's asyncio event
loop (``_ready``, ``_scheduled``, a handle's ``_scheduled``, ``_selector``, ``_ssock``); an
asyncio upgrade that changes them touches this file alone. Every read is guarded: when an
attribute is missing the loop is never declared idle, and waits fall back to their deadlines,
which costs time but never changes a verdict.
"""

from __future__ import annotations

import asyncio
import math
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
    An app timer due after a wait's deadline does not keep that wait: nothing of the app can
    run before the deadline, so the wait could only end in silence (an app that ticks every
    second is still silent for a 0.2 s quiet window).

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
        #: Each waiting connection's future, with its test of the app and its deadline timer.
        self._waiting: dict[asyncio.Future[bool],
                            tuple[Callable[[], bool], asyncio.TimerHandle]] = {}
        #: The deadline timers of the waits: they never wake an app, so they do not count.
        self._timers: set[asyncio.TimerHandle] = set()
        self._armed = False

    def watch(self, waiter: asyncio.Future[bool], app_waiting: Callable[[], bool],
              timer: asyncio.TimerHandle) -> None:
        """Resolve ``waiter`` with True once the loop is idle and ``app_waiting()`` holds;
        ``timer`` is the wait's own deadline, which does not count as pending work."""
        self._waiting[waiter] = (app_waiting, timer)
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
        quiet_until = self._quiet_until(loop)
        if quiet_until is None:
            return  # a foreign socket: the next change kicks the monitor again
        # A wait whose deadline comes before the app's next timer cannot see anything but
        # silence: nothing of the app runs before then. A later deadline waits for the timer.
        for waiter, (app_waiting, timer) in list(self._waiting.items()):
            if not waiter.done() and timer.when() <= quiet_until and app_waiting():
                waiter.set_result(True)

    def _quiet_until(self, loop: asyncio.AbstractEventLoop) -> float | None:
        """The loop time until which, the ready queue being empty, nothing in ``loop`` can
        wake an app (infinity: nothing ever); None when something may (a watched socket, or
        the loop's internals are not the ones this module knows)."""
        ready = getattr(loop, "_ready", None)
        scheduled = getattr(loop, "_scheduled", None)
        selector = getattr(loop, "_selector", None)
        wakeup = getattr(loop, "_ssock", None)
        if ready is None or scheduled is None or selector is None or wakeup is None:
            return None
        try:
            watched = selector.get_map()
            own_fd = wakeup.fileno()
        except (AttributeError, RuntimeError, OSError):
            return None
        if not all(fd == own_fd for fd in watched):
            return None
        # Fast path: when every handle in the heap is one of the kit's own deadlines, nothing
        # else is scheduled. The heap's own counter of cancelled handles
        # (``_timer_cancelled_count``) is no help here: CPython does not decrement it when a
        # cancelled handle leaves the heap among the due ones, so it can exceed the cancelled
        # handles still there and hide a live timer of the app.
        own = sum(1 for h in self._timers if getattr(h, "_scheduled", False))
        if len(scheduled) == own:
            return math.inf
        due = self._next_foreign(scheduled)
        return math.inf if due is None else due

    def next_timer(self) -> float | None:
        """The loop time of the earliest live timer that is not the kit's own (an app's
        ``sleep``, a ``wait_for``'s timeout), or None when there is none or it cannot be
        known (not one of CPython's loops)."""
        scheduled = getattr(self._loop_ref(), "_scheduled", None)
        return None if scheduled is None else self._next_foreign(scheduled)

    def _next_foreign(self, scheduled: list[asyncio.TimerHandle]) -> float | None:
        timers = self._timers
        return min((h.when() for h in scheduled if not h.cancelled() and h not in timers),
                   default=None)

    def _loop_idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True when, the ready queue being empty, nothing in ``loop`` can ever wake an app."""
        return self._quiet_until(loop) == math.inf


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
