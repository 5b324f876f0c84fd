"""Running the checks of a run side by side on the kit's loop, each verdict taken in turn.

Checks mostly wait on the target, so started together (up to a bound) their waits overlap;
pytest still reports the items in order. Only a pass is taken from a check that ran beside
others: any other verdict is confirmed by running the check again alone. Checks of one serial
group (``Check.serial``: a broadcast room's, whose scenarios take one lock) are not others to
each other: their connections never meet. In-process only the
checks that wait on the clock start at once, the others ahead of their turn while the kit's
process is idle. A check marked ``last`` (``Check.last``) is never started early or ahead: it
runs alone at its turn, which the callers give it after every other check's. The reasoning is
in docs/internals.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass

from wscheck.core.events import Silence
from wscheck.drivers.base import CUT_SHORT, REPLY_BOUND
from wscheck.errors import TargetDown
from wscheck.run.registry import BESIDE_OTHERS, CONFIRMING_ALONE, Check, Context, Verdict

__all__ = ["ALONE_FACTOR", "ALONE_FLOOR", "IDLE_FRACTION", "IDLE_SAMPLE_SECONDS", "Gate",
           "Schedule", "Ticket", "process_idle"]

#: A check is started ahead of its turn when over the last sample the kit's process used
#: less than this share of one CPU (every thread: the loop, the app, Hypothesis's drawing).
#: A suite against a fast app uses most of one; one against an app that takes 50 ms a
#: reply, a few percent.
IDLE_FRACTION = 0.25
IDLE_SAMPLE_SECONDS = 0.1

#: A check confirmed alone whose verdict beside others rests on replies that did not come
#: within the full timeout waits for a reply at most this many times the slowest reply seen
#: in the run, and at least ``ALONE_FLOOR`` seconds: the same missing reply is not waited out
#: at the full timeout twice. See :meth:`Schedule._alone`.
ALONE_FACTOR = 4.0
ALONE_FLOOR = 0.5


def process_idle() -> Callable[[], bool]:
    """A test, for :class:`Schedule`'s ``ahead_when``: whether this process used less than
    :data:`IDLE_FRACTION` of one CPU (every thread) since the test last ran."""
    last = [time.monotonic(), time.process_time()]

    def idle() -> bool:
        now, used = time.monotonic(), time.process_time()
        was_idle = used - last[1] < IDLE_FRACTION * (now - last[0])
        last[:] = [now, used]
        return was_idle

    return idle


@dataclass(eq=False)
class Ticket:
    """One shared run's slot: its check's serial group, and whether a check outside that
    group ran at some moment of it."""

    serial: str | None
    overlapped: bool = False


class Gate:
    """Up to ``width`` checks at once (shared), or one check with nothing else (alone).

    A check waiting to run alone goes first: no new shared run starts while it waits, and it
    starts once the running ones are done.
    """

    def __init__(self, width: int) -> None:
        self._width = max(1, width)
        self._cond = asyncio.Condition()
        self._running: set[Ticket] = set()
        self._alone_waiting = 0
        self._alone = False

    @property
    def active(self) -> int:
        """How many shared runs hold a slot."""
        return len(self._running)

    async def enter_shared(self, serial: str | None = None) -> Ticket:
        """Take a shared slot, for a check of the serial group ``serial`` (see
        :attr:`~wscheck.run.registry.Check.serial`); the ticket goes to :meth:`leave_shared`.
        Two runs overlap when one starts while the other runs, unless they share a group."""
        async with self._cond:
            await self._cond.wait_for(lambda: not self._alone and not self._alone_waiting
                                      and self.active < self._width)
            ticket = Ticket(serial)
            for other in self._running:
                if serial is None or other.serial != serial:
                    other.overlapped = ticket.overlapped = True
            self._running.add(ticket)
            return ticket

    async def leave_shared(self, ticket: Ticket) -> bool:
        """Give the slot back; True when a check outside its group ran at some moment of
        this one."""
        async with self._cond:
            self._running.discard(ticket)
            self._cond.notify_all()
        return ticket.overlapped

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        """Run with no other check running."""
        async with self._cond:
            self._alone_waiting += 1
            try:
                await self._cond.wait_for(lambda: not self._alone and self.active == 0)
            finally:
                self._alone_waiting -= 1
            self._alone = True
        try:
            yield
        finally:
            async with self._cond:
                self._alone = False
                self._cond.notify_all()


@dataclass
class _Run:
    """One check's run beside others: its verdict or exception, and whether it overlapped."""

    verdict: Verdict | None = None
    error: BaseException | None = None
    overlapped: bool = False


class Schedule:
    """The checks of a run, started together up to ``width`` at a time, in the order given
    (see the module docstring). Create and use it on the kit's loop."""

    def __init__(self, checks: Sequence[tuple[Check, Context]], width: int,
                 early: Collection[str] | None = None, *,
                 ahead_when: Callable[[], bool] | None = None) -> None:
        self._checks = {chk.id: (chk, ctx) for chk, ctx in checks}
        #: The checks started at once (all by default); the others run at their turn, beside
        #: whatever early ones still run. Those that wait on the clock (``Check.waits``: an
        #: idle connection watched, a pause) start first whatever their place: their seconds
        #: then overlap every other check's instead of beginning once most are done (over a
        #: network, where all start at once but ``width`` at a time, that was most of a
        #: second of the run's end).
        self._order = [chk.id for chk, _ in sorted(checks, key=lambda pair: not pair[0].waits)
                       if (early is None or chk.id in early) and not chk.last]
        #: Those others, in order, each started ahead of its turn when ``ahead_when()`` says
        #: so (every sample: see :func:`process_idle`), unless its turn came first.
        self._ahead_when = ahead_when
        self._later = [chk.id for chk, _ in checks if early is not None and chk.id not in early
                       and ahead_when is not None and not chk.last]
        self._stopping = threading.Event()
        self._gate = Gate(width)
        self._width = max(1, width)
        self._runs: dict[str, asyncio.Future[_Run]] = {}
        self._workers: list[asyncio.Task[None]] = []

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._checks

    def start(self) -> None:
        """Start the workers (with a width of 1 nothing starts: each check runs at its turn)."""
        if self._width <= 1 or self._workers:
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue()
        for check_id in self._order:
            self._runs[check_id] = loop.create_future()
            queue.put_nowait(check_id)
        self._workers = [asyncio.ensure_future(self._work(queue))
                         for _ in range(min(self._width, len(self._order)))]
        if self._later:
            threading.Thread(target=self._ahead, args=(loop, self._stopping),
                             name="wscheck-schedule-ahead", daemon=True).start()

    async def _work(self, queue: asyncio.Queue[str]) -> None:
        while not queue.empty():
            await self._run_into(queue.get_nowait())

    async def _run_into(self, check_id: str) -> None:
        run = await self._shared_run(check_id)
        future = self._runs[check_id]
        if not future.done():
            future.set_result(run)

    def _ahead(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        """In a thread of its own (a timer on the loop would keep the in-process driver from
        ever knowing the app idle): after each sample for which ``ahead_when()`` holds, have
        the loop start the next check ahead of its turn, until each has started or had its
        turn."""
        assert self._ahead_when is not None
        while self._later and not stop.wait(IDLE_SAMPLE_SECONDS):
            if self._ahead_when():
                try:
                    loop.call_soon_threadsafe(self._start_ahead)
                except RuntimeError:  # the loop is closed: the run is over
                    return

    def _start_ahead(self) -> None:
        if self._later and self._gate.active < self._width and not self._stopping.is_set():
            check_id = self._later.pop(0)
            self._runs[check_id] = asyncio.get_running_loop().create_future()
            self._workers.append(asyncio.ensure_future(self._run_into(check_id)))

    async def _shared_run(self, check_id: str) -> _Run:
        chk, ctx = self._checks[check_id]
        run = _Run()
        ticket = await self._gate.enter_shared(chk.serial)
        # Over a network only: in-process a failure costs no waits, and a run in-process
        # stays exactly what it was.
        beside = BESIDE_OTHERS.set(self._width > 1 and getattr(ctx.driver, "kind", "") != "asgi")
        try:
            run.verdict = await chk.run(ctx)
        except asyncio.CancelledError:
            await self._gate.leave_shared(ticket)
            raise
        except Exception as exc:  # given to the check's item when its turn comes
            run.error = exc
        finally:
            BESIDE_OTHERS.reset(beside)
        run.overlapped = await self._gate.leave_shared(ticket)
        return run

    async def verdict(self, check_id: str) -> Verdict:
        """The verdict of ``check_id`` (see the module docstring): its run beside others when
        that passed, or could not conclude for a reason no other check changes (what cannot
        be observed through this kind of target); else a run alone."""
        chk, ctx = self._checks[check_id]
        if chk.last:  # its turn comes after every other check's: alone, never beside one
            async with self._gate.alone():
                return await chk.run(ctx)
        future = self._runs.get(check_id)
        if check_id in self._later:  # its turn came first: never started ahead now
            self._later.remove(check_id)
        run = await future if future is not None else await self._shared_run(check_id)
        if run.error is not None:
            # A target that went down is down for every check; any other error raised beside
            # other checks is run again alone, like a verdict that is not a pass, and said.
            if isinstance(run.error, TargetDown) or not run.overlapped:
                raise run.error
            async with self._gate.alone():
                again = await _confirm(chk, ctx)
            return dataclasses.replace(again, notes=(
                *again.notes, "run again alone: beside other checks it raised "
                f"{type(run.error).__name__}: {str(run.error)[:200]}"))
        verdict: Verdict | None = run.verdict
        assert verdict is not None
        trusted = (verdict.passed and not verdict.trusted_alone_only) or (
            verdict.is_inconclusive and verdict.unconcluded == "unobservable")
        if trusted or (not run.overlapped and not verdict.unfinished):
            return verdict
        async with self._gate.alone():
            return await self._alone(chk, ctx, verdict)

    async def _alone(self, chk: Check, ctx: Context, beside: Verdict) -> Verdict:
        """``chk`` run alone, to confirm ``beside`` (its verdict beside others, not a pass).

        When ``beside`` rests on replies that did not come within the full timeout, the run
        alone waits for a reply at most :func:`_alone_bound`. Its verdict is taken when no
        wait was cut short, or when it is ``beside`` again, the same conversation cut at the
        same places, and every wait cut short is one of those: the replies missing alone were
        missing at the full timeout beside the other checks. Otherwise the check runs alone
        once more at the full timeout, and that is the verdict."""
        bound = _alone_bound(ctx, beside)
        if bound is None:
            return await _confirm(chk, ctx)
        counted: list[float] = []
        tokens = REPLY_BOUND.set(bound), CUT_SHORT.set(counted)
        try:
            again = await _confirm(chk, ctx)
        finally:
            CUT_SHORT.reset(tokens[1])
            REPLY_BOUND.reset(tokens[0])
        if not counted:
            return again
        if _same(again, beside) and len(counted) == len(_silences(again)):
            # The evidence shown is the run beside others, whose silences lasted the timeout.
            return dataclasses.replace(again, observation=beside.observation, notes=(
                *again.notes, (
                f"run again alone, a reply was waited for at most {ALONE_FACTOR:g} times the "
                f"slowest reply seen (at least {ALONE_FLOOR:g}s); beside other checks the same "
                f"reply did not come within the full {ctx.driver.timeout:g}s timeout")))
        return await _confirm(chk, ctx)

    async def cancel(self) -> None:
        """Stop every check still running (the run ended early: -x, a target that went
        down, an interrupt) and wait for them to let their connections go."""
        self._stopping.set()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []


async def _confirm(chk: Check, ctx: Context) -> Verdict:
    """``chk`` run alone to confirm its verdict beside others (see
    :data:`~wscheck.run.registry.CONFIRMING_ALONE`)."""
    token = CONFIRMING_ALONE.set(True)
    try:
        return await chk.run(ctx)
    finally:
        CONFIRMING_ALONE.reset(token)


def _silences(verdict: Verdict) -> list[Silence]:
    observed = verdict.observation.observed if verdict.observation is not None else ()
    return [e for e in observed if isinstance(e, Silence)]


def _alone_bound(ctx: Context, beside: Verdict) -> float | None:
    """How long a run alone confirming ``beside`` waits for a reply (``ALONE_FACTOR``), or
    None (the timeout): when ``beside``'s evidence has no silence, or one that was not a
    full timeout, or the driver keeps no reply times."""
    replies = getattr(ctx.driver, "replies", None)
    silences = _silences(beside)
    if replies is None or not silences or any(s.seconds < ctx.driver.timeout for s in silences):
        return None
    bound = max(ALONE_FLOOR, ALONE_FACTOR * replies.slowest)
    return bound if bound < ctx.driver.timeout else None


def _same(one: Verdict, other: Verdict) -> bool:
    """The same verdict on the same evidence (how long a silence lasted is not compared)."""
    return (one.problem, one.inconclusive, one.observation) == (
        other.problem, other.inconclusive, other.observation)
