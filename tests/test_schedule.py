"""Checks side by side (:mod:`wscheck.run.schedule`): how many run at once, and why the verdicts
are those of the checks run one after another.

First with made-up checks that record when they run (a check that fails only while another
runs is confirmed alone and passes; one that fails alone fails; a pass is taken as it is),
then through ``wscheck run``: the same verdict for every check with ``--concurrency 1`` as
with the default, on apps whose defects are about several clients or about time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import tests.broken.broadcasts
import tests.broken.bye_only_early
import tests.broken.replies_to_latest_client
import tests.broken.ticks_every_second
from tests.servers import serve_subprocess
from tests.suite_runs import verdict_tables
from wscheck.core.spec import Spec
from wscheck.run.registry import Check, Context, Verdict
from wscheck.run.schedule import Schedule


class Recorder:
    """Made-up checks that sleep on the loop and note how many ran at once."""

    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self.runs: dict[str, int] = {}
        #: Check ids in the order their runs started.
        self.started: list[str] = []

    def check(self, check_id: str, judge: Callable[[int], Verdict],
              seconds: float = 0.05, waits: bool = False, last: bool = False) -> Check:
        async def run(ctx: Context) -> Verdict:
            self.started.append(check_id)
            self.active += 1
            self.most = max(self.most, self.active)
            self.runs[check_id] = self.runs.get(check_id, 0) + 1
            others = self.active - 1
            try:
                await asyncio.sleep(seconds)
                return judge(max(others, self.active - 1))
            finally:
                self.active -= 1

        fn: Callable[[Context], Awaitable[Verdict]] = run
        return Check(check_id, "MUST", "/ws 1", "made up", frozenset(), fn, waits=waits,
                     last=last)


def _ctx() -> Context:
    return Context(Spec(), driver=None)  # type: ignore[arg-type]  # the made-up checks use none


def _verdicts(schedule: Schedule, ids: list[str]) -> list[Verdict]:
    async def run() -> list[Verdict]:
        schedule.start()
        try:
            return [await schedule.verdict(i) for i in ids]
        finally:
            await schedule.cancel()

    return asyncio.run(run())


@pytest.mark.parametrize("ahead", [False, True])
def test_a_last_check_runs_after_every_other_and_alone(ahead: bool) -> None:
    """The long run (``Check.last``) is never started early or ahead of its turn, even first
    in the list or while the process idles: what it leaves in the target reaches no other
    verdict. Asked last, it runs once, alone, after every other check's run."""
    rec = Recorder()
    long_run = rec.check("long", lambda others: Verdict("crowded") if others else Verdict(),
                         last=True)
    waiting = rec.check("waiting", lambda others: Verdict(), seconds=0.2, waits=True)
    others = [rec.check(f"other{i}", lambda others: Verdict()) for i in range(4)]
    checks = [long_run, waiting, *others]
    schedule = Schedule([(c, _ctx()) for c in checks], 8, early={"waiting", "long"},
                        ahead_when=(lambda: True) if ahead else None)
    verdicts = _verdicts(schedule, [c.id for c in [waiting, *others, long_run]])
    assert all(v.passed for v in verdicts), verdicts
    assert rec.started[-1] == "long" and rec.runs["long"] == 1


def test_a_check_that_fails_only_beside_others_is_confirmed_alone() -> None:
    rec = Recorder()
    crowded = rec.check("crowded", lambda others: Verdict("interfered") if others else Verdict())
    broken = rec.check("broken", lambda others: Verdict("always wrong"))
    fine = [rec.check(f"fine{i}", lambda others: Verdict()) for i in range(4)]
    checks = [crowded, broken, *fine]
    verdicts = _verdicts(Schedule([(c, _ctx()) for c in checks], 8), [c.id for c in checks])
    assert rec.most > 1  # they did run side by side
    assert verdicts[0].passed  # the interference was the schedule's, not the check's
    assert verdicts[1].problem == "always wrong"  # a real failure stays one
    assert all(v.passed for v in verdicts[2:])
    assert rec.runs == {"crowded": 2, "broken": 2, **{c.id: 1 for c in fine}}


def test_a_pass_that_saw_what_it_does_not_judge_is_confirmed_alone() -> None:
    """A pass marked as trusted only alone (an isolation check that saw untagged texts the
    model did not predict: beside others, maybe their traffic) is run again alone, and that
    run is the verdict; an ordinary pass beside others is taken as it is."""
    rec = Recorder()
    crowded = rec.check("crowded", lambda others: Verdict(trusted_alone_only=True) if others
                        else Verdict("a leak, seen alone"))
    plain = rec.check("plain", lambda others: Verdict())
    verdicts = _verdicts(Schedule([(crowded, _ctx()), (plain, _ctx())], 8),
                         ["crowded", "plain"])
    assert rec.most > 1
    assert verdicts[0].problem == "a leak, seen alone"
    assert verdicts[1].passed
    assert rec.runs == {"crowded": 2, "plain": 1}


def test_an_unobservable_verdict_needs_no_confirmation() -> None:
    rec = Recorder()
    unseen = rec.check("unseen", lambda others: Verdict.unobserved("over a network",
                                                                   unobservable=True))
    other = rec.check("other", lambda others: Verdict())
    verdicts = _verdicts(Schedule([(unseen, _ctx()), (other, _ctx())], 8), ["unseen", "other"])
    assert verdicts[0].is_inconclusive and rec.runs["unseen"] == 1


def test_an_error_beside_others_is_run_again_alone_and_said() -> None:
    rec = Recorder()

    def judge(others: int) -> Verdict:
        if others:
            raise RuntimeError("only when crowded")
        return Verdict()

    crowded = rec.check("crowded", judge)
    other = rec.check("other", lambda others: Verdict())
    verdicts = _verdicts(Schedule([(crowded, _ctx()), (other, _ctx())], 8),
                         ["crowded", "other"])
    assert verdicts[0].passed and rec.runs["crowded"] == 2
    assert "RuntimeError: only when crowded" in verdicts[0].notes[-1]


class _Timed:
    """A made-up driver: the timeout and reply times a schedule's run alone reads."""

    kind = "url"
    timeout = 2.0

    def __init__(self) -> None:
        from wscheck.drivers.base import ReplyTimes

        self.replies = ReplyTimes()
        self.replies.saw(0.01)


def _unanswered(waited: float, text: str = "hello") -> Verdict:
    """A failure whose evidence is a reply that did not come (waited ``waited`` seconds)."""
    from wscheck.core.events import Accepted, Conversation, Silence, Text
    from wscheck.run.conversation import Observation

    conversation = Conversation.of("/ws", text)
    return Verdict("no reply", Observation(conversation, (Accepted(), Text(f"re: {text}")),
                                           (Accepted(), Silence(waited))))


def _bounded_run(alone: Callable[[float | None], Verdict]) -> tuple[Verdict, list[float | None]]:
    """A check that fails beside another with a reply missing at the full timeout, then
    answers ``alone(bound)`` on each run alone (the reply bound it was given, noted as cut
    short when the verdict's silence is shorter than the timeout)."""
    from wscheck.drivers.base import REPLY_BOUND, note_cut_short

    bounds: list[float | None] = []
    calls = 0

    async def run(ctx: Context) -> Verdict:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.05)  # beside the other check
            return _unanswered(2.0)
        bound = REPLY_BOUND.get()
        bounds.append(bound)
        verdict = alone(bound)
        if bound is not None and verdict.observation is not None:
            for event in verdict.observation.observed:
                if getattr(event, "seconds", 2.0) < 2.0:
                    note_cut_short(event.seconds, 2.0)  # type: ignore[attr-defined]
        return verdict

    check = Check("late", "MUST", "/ws 2", "made up", frozenset(), run)
    other = Recorder().check("other", lambda others: Verdict(), seconds=0.1)
    ctx = Context(Spec(), driver=_Timed())  # type: ignore[arg-type]
    verdict = _verdicts(Schedule([(check, ctx), (other, ctx)], 8), ["late", "other"])[0]
    return verdict, bounds


def test_a_reply_missing_at_the_full_timeout_is_waited_for_at_a_bound_alone() -> None:
    """Beside others the reply did not come within the full timeout; alone, the same reply
    is waited for at a bound, and the same failure on the same evidence is the verdict: its
    evidence the run that waited the full timeout, with a note saying so."""
    verdict, bounds = _bounded_run(lambda bound: _unanswered(bound or 2.0))
    assert len(bounds) == 1 and bounds[0] is not None and bounds[0] < 2.0
    assert verdict.problem == "no reply"
    assert verdict.observation == _unanswered(2.0).observation
    assert verdict.observation is not None
    assert [e.seconds for e in verdict.observation.observed[1:]] == [2.0]  # type: ignore
    assert "did not come within the full 2s timeout" in verdict.notes[-1]


def test_a_failure_that_moved_when_bounded_is_judged_at_the_full_timeout() -> None:
    """Alone at the bound, another reply went missing: the bound may be what differed, so the
    check runs alone once more at the full timeout, and that run is the verdict."""
    def alone(bound: float | None) -> Verdict:
        return _unanswered(bound, "other") if bound is not None else Verdict()

    verdict, bounds = _bounded_run(alone)
    assert len(bounds) == 2 and bounds[0] is not None and bounds[1] is None
    assert verdict.passed and not verdict.notes


def test_a_verdict_left_unfinished_beside_others_is_never_taken() -> None:
    """Over a network a check on the schedule is told it runs beside others (a property then
    stops at its first failure): such an unfinished verdict is run again alone even when no
    other check happened to run beside it, and that run is the verdict; that run is told it
    confirms (a property then skips its overlapping pass). One at a time, or in-process, no
    check is told either."""
    from wscheck.run.registry import BESIDE_OTHERS, CONFIRMING_ALONE

    told: list[tuple[bool, bool]] = []

    async def run(ctx: Context) -> Verdict:
        told.append((BESIDE_OTHERS.get(), CONFIRMING_ALONE.get()))
        if BESIDE_OTHERS.get():
            return Verdict("stopped early", unfinished=True)
        return Verdict("the real failure")

    check = Check("prop.x", "MUST", "/ws 2", "made up", frozenset(), run)
    ctx = Context(Spec(), driver=_Timed())  # type: ignore[arg-type]
    verdicts = _verdicts(Schedule([(check, ctx)], 8), ["prop.x"])
    assert told == [(True, False), (False, True)]
    assert verdicts[0].problem == "the real failure"
    told.clear()
    assert _verdicts(Schedule([(check, ctx)], 1), ["prop.x"])[0].problem == "the real failure"
    assert told == [(False, False)]
    told.clear()
    in_process = Context(Spec(), driver=type("D", (), {"kind": "asgi"})())  # type: ignore[arg-type]
    assert _verdicts(Schedule([(check, in_process)], 8), ["prop.x"])[0].problem == \
        "the real failure"
    assert told == [(False, False)]


def test_width_1_runs_each_check_at_its_turn_alone() -> None:
    rec = Recorder()
    checks = [rec.check(f"c{i}", lambda others: Verdict("x") if others else Verdict())
              for i in range(4)]
    verdicts = _verdicts(Schedule([(c, _ctx()) for c in checks], 1), [c.id for c in checks])
    assert rec.most == 1 and all(v.passed for v in verdicts)
    assert set(rec.runs.values()) == {1}


def test_only_the_early_checks_start_at_once() -> None:
    """In-process only the checks that wait on the clock start early; the others run at
    their turn, beside whatever early check still runs."""
    rec = Recorder()
    slow = rec.check("slow", lambda others: Verdict(), seconds=0.5)
    quick = [rec.check(f"q{i}", lambda others: Verdict()) for i in range(3)]
    checks = [*quick, slow]
    schedule = Schedule([(c, _ctx()) for c in checks], 8, early={"slow"})
    verdicts = _verdicts(schedule, [c.id for c in checks])
    assert all(v.passed for v in verdicts)
    assert rec.most == 2  # one quick check at a time, beside the slow one


def test_the_checks_that_wait_on_the_clock_start_first() -> None:
    """Over a network every check starts at once, ``width`` at a time: those that wait on
    the clock start first even when the suite lists them last (as the plugin does, to report
    them last), so that their seconds overlap the others' instead of ending the run."""
    rec = Recorder()
    quick = [rec.check(f"q{i}", lambda others: Verdict()) for i in range(4)]
    waiting = [rec.check(f"w{i}", lambda others: Verdict(), waits=True) for i in range(2)]
    checks = [*quick, *waiting]
    verdicts = _verdicts(Schedule([(c, _ctx()) for c in checks], 2), [c.id for c in checks])
    assert all(v.passed for v in verdicts)
    assert rec.started[:2] == ["w0", "w1"]
    assert sorted(rec.started[2:]) == ["q0", "q1", "q2", "q3"]


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "busy"])
def test_the_later_checks_start_ahead_of_their_turn_only_while_the_process_is_idle(
        idle: bool) -> None:
    """In-process the checks that do not wait on the clock start ahead of their turn when
    the process sits idle (an app slow to answer), else at their turn as before; the
    verdicts are the same either way."""
    rec = Recorder()
    slow = rec.check("slow", lambda others: Verdict(), seconds=0.5)
    later = [rec.check(f"q{i}", lambda others: Verdict(), seconds=0.5) for i in range(4)]
    checks = [*later, slow]
    asked: list[bool] = []

    def ahead_when() -> bool:
        asked.append(idle)
        return idle

    schedule = Schedule([(c, _ctx()) for c in checks], 3, early={"slow"},
                        ahead_when=ahead_when)
    verdicts = _verdicts(schedule, [c.id for c in checks])
    assert all(v.passed for v in verdicts)
    assert asked  # sampled while the checks ran
    assert rec.most == (3 if idle else 2), rec.most  # the width bounds what starts ahead
    assert all(n == 1 for n in rec.runs.values()), rec.runs  # started ahead or at its turn


def test_process_idle_tells_a_sleeping_process_from_a_busy_one() -> None:
    """The test the plugin gives the schedule: idle across a sleep, and not across a spin of
    the CPU whenever the machine gave this process the CPU for the spin (on a machine so
    busy that it got under twice the idle share, the spin looks like waiting, and starting
    a check ahead then changes no verdict)."""
    import time

    from wscheck.run.schedule import IDLE_FRACTION, process_idle

    idle = process_idle()
    time.sleep(0.2)
    assert idle()
    wall, cpu = time.monotonic(), time.process_time()
    while time.process_time() < cpu + 0.3:
        pass
    share = (time.process_time() - cpu) / (time.monotonic() - wall)
    busy = not idle()
    assert busy or share < 2 * IDLE_FRACTION, share


def test_cancel_stops_checks_still_running() -> None:
    rec = Recorder()
    long = rec.check("long", lambda others: Verdict(), seconds=60)

    async def run() -> None:
        schedule = Schedule([(long, _ctx())], 8)
        schedule.start()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(schedule.cancel(), 10)

    asyncio.run(run())
    assert rec.active == 0


# --- through wscheck run ----------------------------------------------------------------------

#: The checks the comparisons run, and why: those the apps below fail (isolation.concurrent,
#: prop.concurrent and prop.stateful for the apps whose clients interfere; echo.idle and
#: bye.after-pause, the two that wait on the clock, for the apps about time, and the ones the
#: schedule starts first), the echo checks that a broadcast disturbs beside other checks, so
#: that they pass only once confirmed alone (echo.exact, echo.empty, echo.newlines), and
#: bye.sequence as a plain pass. The rest of the suite adds seconds, not another path.
SCHEDULE_CHECKS = ("isolation.concurrent", "prop.concurrent", "prop.stateful", "echo.idle",
                   "bye.after-pause", "echo.exact", "echo.empty", "echo.newlines",
                   "bye.sequence")
#: Few property examples: the defects show in the first ones, and the count is not the point.
SELECTION = ["--examples", "8", "--", "-k", " or ".join(SCHEDULE_CHECKS)]
#: The check each app fails, side by side as one after another.
FAILS = {"broadcasts": "isolation.concurrent", "replies_to_latest_client": "isolation.concurrent",
         "ticks_every_second": "echo.idle", "bye_only_early": "bye.after-pause"}


def _name(module: Any) -> str:
    return str(module.__name__).rsplit(".", 1)[-1]


def _watch(module: Any) -> list[str]:
    """A short idle watch for the apps whose defect is not in time: their echo.idle and
    bye.after-pause pass either way, and the default watch is seconds of each run."""
    return [] if FAILS[_name(module)] in ("echo.idle", "bye.after-pause") else [
        "--idle-watch", "0.3"]


def agree(default: dict[str, str], sequential: dict[str, str], module: Any) -> None:
    """The two tables are of the selected checks, equal, and catch the app's defect."""
    assert set(default) == set(SCHEDULE_CHECKS), sorted(default)
    assert default == sequential
    assert default[FAILS[_name(module)]] == "fail", default


@pytest.mark.slow  # three whole suites twice; the everyday tier keeps the gate's own test
@pytest.mark.parametrize("module", [
    tests.broken.broadcasts,
    pytest.param(tests.broken.ticks_every_second, marks=pytest.mark.slow),
    pytest.param(tests.broken.bye_only_early, marks=pytest.mark.slow)], ids=_name)
def test_side_by_side_and_one_after_another_agree_in_process(module: Any,
                                                              tmp_path: Path) -> None:
    """In-process only the checks that wait on the clock start early (see SCHEDULE_CHECKS
    for the checks compared); the two runs are of separate processes, so they run at once."""
    target = ["--app", f"{module.__name__}:app", *_watch(module)]
    default, sequential = verdict_tables(
        [[*target, *SELECTION], [*target, "--concurrency", "1", *SELECTION]], tmp_path)
    agree(default, sequential, module)


@pytest.mark.slow
@pytest.mark.parametrize("module", [tests.broken.broadcasts,
                                    tests.broken.replies_to_latest_client,
                                    tests.broken.ticks_every_second,
                                    tests.broken.bye_only_early], ids=_name)
def test_side_by_side_and_one_after_another_agree_over_the_network(module: Any,
                                                                   tmp_path: Path) -> None:
    """Apps whose defect shows between clients (a broadcast reaches every check's clients
    at once) or in time: only their own checks fail, side by side as one after another (the
    checks compared: SCHEDULE_CHECKS). Each run has a uvicorn process of its own (the apps
    keep their clients in class attributes), so the two runs go at once."""
    target = f"{module.__name__}:app"
    with serve_subprocess("uvicorn", target) as one, serve_subprocess("uvicorn", target) as two:
        default, sequential = verdict_tables(
            [["--url", f"ws://{one.address}", *_watch(module), *SELECTION],
             ["--url", f"ws://{two.address}", "--concurrency", "1", *_watch(module),
              *SELECTION]], tmp_path)
    agree(default, sequential, module)


def test_isolation_marks_a_pass_that_saw_texts_the_model_did_not_predict() -> None:
    """``isolation.concurrent`` judges cross-talk only: an app that sends an untagged extra
    text passes it, but that pass is one the schedule takes only from a run alone (beside
    other checks, such a text may be their broadcast crowding out this check's own). The
    reference app's pass is an ordinary one."""
    from reference_app import create_app
    from tests.implementations.raw_asgi import ChatApp, Conn
    from wscheck.drivers.asgi import AsgiDriver, lifespan
    from wscheck.run.registry import SUITE

    class Chatty(ChatApp):
        async def send_reply(self, conn: Conn, text: str) -> None:
            await conn.send_text(text)
            await conn.send_text("noise")

    SUITE.all()

    async def verdict(app: Any) -> Verdict:
        async with lifespan(app) as wrapped:
            driver = AsgiDriver(wrapped, timeout=1.0)
            try:
                return await SUITE["isolation.concurrent"].run(Context(Spec(), driver, 10))
            finally:
                await driver.aclose()

    chatty = asyncio.run(verdict(Chatty()))
    assert chatty.passed and chatty.trusted_alone_only
    reference = asyncio.run(verdict(create_app()))
    assert reference.passed and not reference.trusted_alone_only


def test_checks_of_one_serial_group_do_not_overlap_each_other() -> None:
    """The gate counts a run as beside others only when a check outside its serial group ran
    at some moment of it: a room check beside room checks (their scenarios take one lock)
    ran as if alone; beside any other check, or with no group, it overlapped."""
    from wscheck.run.schedule import Gate

    async def overlaps(first: str | None, second: str | None) -> tuple[bool, bool]:
        gate = Gate(4)
        one = await gate.enter_shared(first)
        two = await gate.enter_shared(second)
        return await gate.leave_shared(one), await gate.leave_shared(two)

    async def one_after_another() -> tuple[bool, bool]:
        gate = Gate(4)
        one = await gate.enter_shared(None)
        first = await gate.leave_shared(one)
        two = await gate.enter_shared(None)
        return first, await gate.leave_shared(two)

    assert asyncio.run(overlaps("room", "room")) == (False, False)
    assert asyncio.run(overlaps("room", None)) == (True, True)
    assert asyncio.run(overlaps(None, "room")) == (True, True)
    assert asyncio.run(overlaps(None, None)) == (True, True)
    assert asyncio.run(overlaps("room", "other")) == (True, True)
    assert asyncio.run(one_after_another()) == (False, False)
