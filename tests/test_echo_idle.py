"""echo.idle in-process follows the app's own timer past the idle watch: an idle timeout of
a few seconds is caught whatever the watch, an app whose timers do nothing passes, and a
timer beyond the reach of the follow costs no wait."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.broken import closes_when_idle
from tests.implementations.raw_asgi import ChatApp, Conn
from tests.verdicts import asgi_verdict
from wscheck.checks.echo import IDLE_FOLLOW
from wscheck.run.registry import Verdict

WATCH = 0.25


def _idle_verdict(app: object) -> Verdict:
    return asgi_verdict(app, "echo.idle", idle_watch=WATCH)


class _Ticking(ChatApp):
    """Correct: a timer every 0.3 s per connection that sends nothing (a periodic task)."""

    async def echo(self, conn: Conn) -> None:
        async def tick() -> None:
            while True:
                await asyncio.sleep(0.3)

        ticker = asyncio.ensure_future(tick())
        try:
            await super().echo(conn)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker


class _FarTimeout(Conn):
    """Correct within the follow's reach: an idle timeout far past it (two hours)."""

    async def receive(self) -> str | bytes:
        return await asyncio.wait_for(super().receive(), 7200)


class _Far(ChatApp):
    conn_type = _FarTimeout


def test_an_idle_timeout_past_the_watch_fails_and_says_how_long_it_watched() -> None:
    verdict = _idle_verdict(closes_when_idle.app)
    assert verdict.problem is not None
    assert "then on until the app's own timer had fired" in verdict.problem, verdict.problem
    assert f"({WATCH:g}s watched" in verdict.problem


def test_a_timer_that_sends_nothing_passes() -> None:
    verdict = _idle_verdict(_Ticking())
    assert verdict.problem is None, verdict.problem


def test_a_timer_beyond_the_follow_is_not_waited_for() -> None:
    assert IDLE_FOLLOW < 7200
    started = time.monotonic()
    verdict = _idle_verdict(_Far())
    assert verdict.problem is None, verdict.problem
    assert time.monotonic() - started < IDLE_FOLLOW / 2  # not the follow's minute, busy or not
