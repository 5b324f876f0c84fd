"""Time the kit itself could not listen is not the target's silence (network driver).

When the kit's process is held up past a deadline (a long garbage collection, a machine busy
with other work), the deadline's timer and the bytes that arrived meanwhile become ready in
the same turn of the event loop, and the timer wins: the target answered, yet the wait said
it did not. Seen on a CI machine as "nothing answered at ws://... within 2s" in the middle of
a run against the reference app (a TCP connect the kernel had completed at once) and as
replies that "never came". Each test here holds the loop up on purpose with a blocking
``time.sleep`` across a deadline, the server being on the same loop (so that it is held up
too, as a server thread in the kit's own process is by a collection), and asserts that the
driver still reports what the target did.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import pytest

from tests.raw_servers import echo
from tests.test_bounds import raw_server
from wscheck.core.events import Accepted, Closed, Silence, Text
from wscheck.drivers._mute import STALL_ALLOWANCE, time_lost
from wscheck.drivers.url import UrlDriver
from wscheck.errors import TargetUnreachable

TIMEOUT = 0.5
#: Longer than TIMEOUT + STALL_ALLOWANCE: every deadline the test sets falls inside it.
HELD_UP = 1.2


def hold_up_the_loop() -> None:
    """The kit's process stops for a while at the next turn of its loop (as in a long
    collection): a blocking sleep in a callback."""
    asyncio.get_running_loop().call_soon(time.sleep, HELD_UP)


def test_time_lost_counts_only_a_deadline_passed_well_late() -> None:
    assert time_lost(0.0, 2.0, 2.0 + STALL_ALLOWANCE / 2) == 0.0  # on time, as timers go
    assert time_lost(0.0, 2.0, 3.0) == pytest.approx(1.0)  # held up a second past it
    assert time_lost(0.0, 2.0, 60.0) == 2.0  # never more than the wait itself


def connect_held_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next TCP connect completes, then the process stops before the connect returns:
    past its deadline, which fires as soon as the loop runs again."""
    real = anyio.connect_tcp
    held: list[bool] = []

    async def held_up(*args: Any, **kwargs: Any) -> Any:
        stream = await real(*args, **kwargs)
        if held:
            return stream
        held.append(True)
        try:
            time.sleep(HELD_UP)
            await asyncio.sleep(0.01)  # what was left of the connect: the deadline fires first
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        return stream

    monkeypatch.setattr(anyio, "connect_tcp", held_up)


def connect_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every later TCP connect runs out on time (SYNs dropped, say): no stall."""

    async def times_out(*args: Any, **kwargs: Any) -> Any:
        raise TimeoutError

    monkeypatch.setattr(anyio, "connect_tcp", times_out)


@pytest.mark.asyncio
async def test_a_connect_held_up_past_its_deadline_still_connects(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with raw_server(echo) as url:
        driver = UrlDriver(url, timeout=TIMEOUT)
        try:
            connect_held_up_once(monkeypatch)
            connection = await driver.connect("/")
            assert connection.handshake == Accepted()
            await connection.send_text("still there?")
            assert await connection.receive() == Text("still there?")
            await connection.close()
        finally:
            await driver.aclose()


@pytest.mark.asyncio
async def test_a_handshake_answer_held_up_past_its_deadline_is_still_read() -> None:
    held: list[bool] = []

    async def holds_up_the_loop_then_echoes(reader: asyncio.StreamReader,
                                            writer: asyncio.StreamWriter) -> None:
        if not held:
            held.append(True)
            await asyncio.sleep(0.05)  # the client is waiting for the 101 by now
            time.sleep(HELD_UP)  # a collection in a server thread of the kit's process
        await echo(reader, writer)

    async with raw_server(holds_up_the_loop_then_echoes) as url:
        driver = UrlDriver(url, timeout=TIMEOUT)
        try:
            connection = await driver.connect("/")
            assert connection.handshake == Accepted()
            await connection.close()
        finally:
            await driver.aclose()


@pytest.mark.asyncio
async def test_a_connect_timing_out_after_the_target_answered_is_silence_not_unreachable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the target has answered, a connect that runs out is one more wait it left
    unanswered (for the mute watch to count), not "nothing answers there" stopping the
    run at once; before it ever answered, it is (the run's first probe says so)."""
    async with raw_server(echo) as url:
        never_answered = UrlDriver(url, timeout=TIMEOUT)
        driver = UrlDriver(url, timeout=TIMEOUT)
        try:
            first = await driver.connect("/")
            assert first.handshake == Accepted()
            await first.close()
            connect_times_out(monkeypatch)
            assert (await driver.connect("/")).handshake == Silence(TIMEOUT)
            with pytest.raises(TargetUnreachable, match="nothing answered"):
                await never_answered.connect("/")
        finally:
            await driver.aclose()
            await never_answered.aclose()


@pytest.mark.asyncio
async def test_a_reply_the_kit_was_held_up_from_reading_is_still_read() -> None:
    async with raw_server(echo) as url:
        driver = UrlDriver(url, timeout=TIMEOUT)
        try:
            connection = await driver.connect("/")
            await connection.send_text("hello")
            hold_up_the_loop()  # before the server has even read the message
            assert await connection.receive() == Text("hello")
            await connection.send_text("and again")
            hold_up_the_loop()
            assert await connection.quiet() == Text("and again")
            hold_up_the_loop()
            await connection.close()
            assert isinstance(await connection.receive(), Closed)
        finally:
            await driver.aclose()


@pytest.mark.asyncio
async def test_silence_is_still_silence_when_the_kit_was_held_up() -> None:
    """The extra wait is bounded: a target that says nothing is still reported silent."""
    async with raw_server(echo) as url:
        driver = UrlDriver(url, timeout=TIMEOUT)
        try:
            connection = await driver.connect("/")
            hold_up_the_loop()
            started = time.monotonic()
            assert await connection.receive() == Silence(TIMEOUT)
            # The wait, the time held up, and at most the wait again (a wide margin on top).
            assert time.monotonic() - started < HELD_UP + 2 * TIMEOUT + 5
            await connection.close()
        finally:
            await driver.aclose()
