"""The in-process idle monitor: a wait ends early in silence only when nothing of the app can
run before its deadline."""

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


async def test_an_apps_timer_tells_until_when_the_loop_is_quiet() -> None:
    loop = asyncio.get_running_loop()
    monitor = IdleMonitor(loop)
    app = loop.call_later(3600, _noop)
    try:
        quiet_until = monitor._quiet_until(loop)
        assert quiet_until == app.when()
    finally:
        app.cancel()
    assert monitor._quiet_until(loop) == float("inf")


async def _waits(ticks_after: float, window: float) -> tuple[list[str], float]:
    """A connection of an app that says "tick" ``ticks_after`` seconds after it accepts,
    watched for ``window`` seconds: what it observed, and how long the watch took."""
    from wscheck.drivers.asgi import AsgiDriver

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        assert callable(receive) and callable(send)
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})

        async def tick() -> None:
            await asyncio.sleep(ticks_after)
            await send({"type": "websocket.send", "text": "tick"})

        ticker = asyncio.ensure_future(tick())
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            ticker.cancel()

    driver = AsgiDriver(app, timeout=window)
    conn = await driver.connect("/ws")
    started = loop_time = asyncio.get_running_loop().time()
    try:
        seen = [repr(await conn.receive(window))]
        loop_time = asyncio.get_running_loop().time()
    finally:
        await conn.close()
    return seen, loop_time - started


async def test_a_timer_after_the_deadline_does_not_keep_a_wait() -> None:
    """The app will tick in an hour: a 20 s wait can only see silence, and knows it at once
    (the bound is a wide margin for a busy machine, far below the wait's own length)."""
    seen, took = await _waits(ticks_after=3600, window=20)
    assert "Silence" in seen[0], seen
    assert took < 10, took


async def test_a_timer_before_the_deadline_is_waited_for() -> None:
    seen, _ = await _waits(ticks_after=0.05, window=20)
    assert "tick" in seen[0], seen
