"""The in-process idle monitor: nothing is declared idle while an app's timer is pending."""

from __future__ import annotations

import asyncio

import pytest

from wscheck.drivers._idle import IdleMonitor

pytestmark = pytest.mark.asyncio


def _noop() -> None:
    pass


async def test_an_apps_timer_keeps_the_loop_busy() -> None:
    loop = asyncio.get_running_loop()
    monitor = IdleMonitor(loop)
    kit = loop.call_later(3600, _noop)
    monitor._timers.add(kit)
    assert monitor._loop_idle(loop)
    app = loop.call_later(3600, _noop)
    try:
        assert not monitor._loop_idle(loop)
    finally:
        app.cancel()
        kit.cancel()


async def test_an_apps_timer_is_seen_when_the_loops_cancelled_count_drifts() -> None:
    """CPython leaves ``_timer_cancelled_count`` one too high when a cancelled handle leaves
    the heap among the due ones; a monitor trusting it took a live timer of the app for one
    that was cancelled, and so declared an app idle that was about to speak."""
    loop = asyncio.get_running_loop()
    monitor = IdleMonitor(loop)
    app = loop.call_later(3600, _noop)  # the app's own timer: it will wake the app
    kit = loop.call_later(3600, _noop)  # a deadline of the kit's
    monitor._timers.add(kit)
    now = loop.time()
    loop.call_at(now, _noop)
    loop.call_at(now + 1e-6, _noop).cancel()  # popped as due behind the first, uncounted
    await asyncio.sleep(0.01)
    try:
        assert not monitor._loop_idle(loop)
    finally:
        app.cancel()
        kit.cancel()
