"""Running Hypothesis for the property checks: profiles, the shrink budget, the loop bridge.

Hypothesis runs in a worker thread while the conversations run on the check's own event
loop, so one check works in-process and over the network. Shrinking has a budget
(``SHRINK_SECONDS``) and each example a bound (:func:`example_bound`), so that an app that
stalls cannot turn one defect into minutes of replays (docs/internals.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.database import ReadOnlyDatabase
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from wscheck.drivers.base import CUT_SHORT, REPLY_BOUND, ReplyTimes, example_bound
from wscheck.generation._compat import (
    Flaky,
    forced_seed,
    set_database_key,
    silenced,
    steady_constants,
)
from wscheck.generation.bridge import ExampleTimedOut, LoopBridge, Pipeline, PropertyFailed
from wscheck.run.registry import BESIDE_OTHERS, CONFIRMING_ALONE, Context, Verdict

__all__ = [
    "REPLAY_FACTOR",
    "REPLAY_FLOOR",
    "SHRINK_SECONDS",
    "Budget",
    "ShrinkSpent",
    "example_bound",
    "overlaps_first",
    "own_waits",
    "profile",
    "run_machine",
    "run_property",
    "shared_seed",
    "stopped_beside_others",
]

T = TypeVar("T")


class ShrinkSpent(KeyboardInterrupt):
    """Raised by :meth:`Budget.spent` in Hypothesis's test once the shrink budget is spent, to
    end its run: as for an interrupt, Hypothesis stops at once, neither taking it for a
    failure nor saving the example in its database. It never leaves the worker thread
    (:func:`_run_examples` returns instead); the smallest failure recorded in the
    :class:`Budget` is the verdict."""

#: Seconds of shrinking allowed after the first failure (see the module docstring): short
#: over a network, where a stalling app costs a timeout per replay; longer in-process, where
#: a replay costs about a millisecond and a better shrink is nearly free.
SHRINK_SECONDS = {"url": 1.0, "asgi": 3.0}

#: While a property shrinks, a replay waits for a reply at most this many times the slowest
#: reply the driver has seen in the run, and at least ``REPLAY_FLOOR`` seconds (never more
#: than the timeout): a missing reply already waited out at the full timeout is not waited
#: out again on every replay. The example reported is confirmed at the full timeout.
#: ``REPLAY_FLOOR = None`` waits the full timeout on every replay.
REPLAY_FACTOR = 4.0
REPLAY_FLOOR: float | None = 0.25


_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
           HealthCheck.filter_too_much]

settings.register_profile(
    "wscheck", deadline=None, phases=_PHASES, suppress_health_check=_HEALTH,
    report_multiple_bugs=False, print_blob=False)
settings.register_profile(
    "wscheck-ci", parent=settings.get_profile("wscheck"), derandomize=True, database=None)


def profile() -> settings:
    """The Hypothesis profile the properties run under: ``wscheck``, or ``wscheck-ci`` when the
    ``CI`` environment variable is set (derandomized, no example database). Users may register
    their own profiles under these names to change them."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    return settings.get_profile("wscheck-ci" if ci else "wscheck")


def shared_seed() -> int | None:
    """The seed a check's overlapping run and its run alone both take, so that they draw the
    same examples: None under a derandomized profile (Hypothesis seeds each from the test's
    source) or a forced seed (``--hypothesis-seed``: Hypothesis seeds each from it), else a
    fresh one. Not from the random module: its state is what Hypothesis watches during other
    checks' draws."""
    if profile().derandomize or forced_seed() is not None:
        return None
    return secrets.randbits(64)


def overlaps_first(ctx: Context) -> bool:
    """Whether a property first runs its examples side by side: with a concurrency, unless
    the schedule is confirming alone a verdict it gave beside other checks
    (:data:`~wscheck.run.registry.CONFIRMING_ALONE`)."""
    return ctx.concurrency > 1 and not CONFIRMING_ALONE.get()


@dataclass
class Budget:
    """Tracks the smallest failure so far and ends shrinking when time runs out."""

    seconds: float
    first_failure: float | None = None
    best_key: str | None = None
    best: PropertyFailed | None = None
    calls: int = 0
    #: The example being evaluated, and whether its replies were waited for at a bound.
    last_example: object = None
    last_bounded: bool = False
    #: The first failure (observed at the full timeout, unless ``search`` bounded it) and
    #: the smallest one, with examples.
    first: tuple[object, PropertyFailed] | None = None
    first_key: str | None = None
    first_bounded: bool = False
    #: Whether replies are waited for at a bound before any failure too (see
    #: :func:`run_property`'s ``search_bounded``).
    search: bool = False
    #: Whether :meth:`spent` stops Hypothesis's run, and whether it did.
    stops: bool = False
    stopped: bool = False
    best_example: object = None
    best_bounded: bool = False
    #: The shortest reply wait a replay was given, if any was bounded.
    bound: float | None = None
    #: How long the last bounded replay took: one that would end past the budget is not
    #: started (a room's replay over a network takes half a second).
    took: float = 0.0
    #: A smaller example a failure showed to be enough (see :func:`run_property`'s ``cut``).
    cut: Callable[[Any], tuple[Any, str] | None] | None = None
    #: What makes two examples the same conversation (see :func:`run_property`'s ``same``),
    #: and what each one already observed at a bound or at the full timeout gave.
    same: Callable[[Any], object] = repr
    known: dict[object, PropertyFailed | None] = field(default_factory=dict)

    @classmethod
    def for_driver(cls, kind: str, *, stops: bool = False) -> Budget:
        return cls(SHRINK_SECONDS.get(kind, 1.0), stops=stops)

    def spent(self) -> bool:
        """Whether the shrink time is up, or would be before a replay as long as the last
        bounded one ended (not started, it does not overrun the budget by a whole replay).
        For a budget that ``stops`` (a property's, see
        :func:`_run_property`), raises :class:`ShrinkSpent` instead: Hypothesis would go on
        trying smaller examples, each passing at once, for as long as its shrinker has ideas
        (seconds of its own time for a long example). Raised here rather than in the test
        Hypothesis runs, whose source seeds a derandomized run."""
        spent = self.first_failure is not None and \
            time.monotonic() - self.first_failure + self.took > self.seconds
        if spent and self.stops:
            self.stopped = True
            raise ShrinkSpent
        return spent

    def failed(self, key: str, failure: PropertyFailed, started: float | None = None) -> None:
        """Record a failure. The budget starts now, or at ``started`` for an example that
        timed out: the bound it waited out counts against the budget, so that shrinking does
        not go on to wait out the bound again and again."""
        if self.first_failure is None:
            self.first_failure = time.monotonic() if started is None else started
        if self.first is None:
            self.first, self.first_key = (self.last_example, failure), key
            self.first_bounded = self.last_bounded
        self.best_key, self.best = key, failure
        self.best_example, self.best_bounded = self.last_example, self.last_bounded

    def reply_bound(self, timeout: float, replies: ReplyTimes | None) -> float | None:
        """How long a replay may wait for a reply: None (the timeout) until the first
        failure, then a bound from the slowest reply seen (``REPLAY_FACTOR``); for a budget
        that ``search``-es bounded, that bound from the start, once a reply has been seen."""
        if replies is None or REPLAY_FLOOR is None:
            return None
        if self.first_failure is None and not (self.search and replies.slowest > 0):
            return None
        bound = max(REPLAY_FLOOR, REPLAY_FACTOR * replies.slowest)
        return bound if bound < timeout else None


async def run_property(
    ctx: Context,
    check_id: str,
    strategy: st.SearchStrategy[T],
    evaluate: Callable[[T], Coroutine[Any, Any, PropertyFailed | None]],
    examples: int | None = None,
    *,
    search_bounded: bool = False,
    same: Callable[[T], object] | None = None,
    cut: Callable[[T], tuple[T, str] | None] | None = None,
) -> Verdict:
    """Run ``evaluate`` on examples of ``strategy`` with Hypothesis; a verdict at the end.

    With a concurrency above 1 the examples first run overlapping (:class:`Pipeline`), so
    that an app slow to answer, or a network's waits, cost about one example's time per
    ``ctx.concurrency`` examples instead of one each. Only a pass is taken from that run:
    when any example strays, the property runs again one example after another, drawing the
    same examples in the same order; that run, its shrink and its evidence are the verdict
    (the rule of :mod:`wscheck.run.schedule`: an app whose connections interfere is judged on
    conversations run alone). Confirming alone a verdict given beside other checks
    (:data:`~wscheck.run.registry.CONFIRMING_ALONE`), it runs one example after another
    straight away.

    ``search_bounded``: in the run one example after another, replies are waited for at
    most :meth:`Budget.reply_bound` from the first example on (once the driver has seen a
    reply), not only once one has failed: a property whose every failing example waits out
    a missing text (a room's) then pays the full timeout once, for the confirmation. A
    failure seen only at the bound is no verdict: when neither the smallest failure nor the
    first fails again at the full timeout, the property runs again as without it.

    ``same``: what makes two examples the same conversation (default their ``repr``). A
    bounded replay of a conversation already observed gives what it gave then, without
    running it: Hypothesis's shrinker also simplifies what a conversation does not use (the
    text of a join, say), and over a network each such replay cost a room scenario.

    ``cut``: for a failing example, a smaller one that its failure showed to be enough (a
    room's scenario up to the step where it first went wrong), and how to say so; at the
    confirmation at the full timeout it is run first and, when it fails there, reported.
    Over a network a shrink budget buys a room's property a replay or two: the steps after
    the one that went wrong were most of the example reported.
    """
    with own_waits():
        return await _run_property(ctx, check_id, strategy, evaluate, examples,
                                   search_bounded, same or repr, cut)


def stopped_beside_others() -> Verdict:
    """The verdict of a property whose examples run overlapping strayed beside other checks
    (see :data:`~wscheck.run.registry.BESIDE_OTHERS`): its run alone finds, shrinks and
    confirms the failure, so nothing of that is done twice."""
    return Verdict("an example did not agree with the model while other checks ran; the "
                   "check runs again alone", unfinished=True)


@contextlib.contextmanager
def own_waits() -> Iterator[None]:
    """For a property's run, which bounds and confirms its own waits for replies
    (:meth:`Budget.reply_bound`, the confirmation at the full timeout): a caller's bound (the
    schedule's run alone, :mod:`wscheck.run.schedule`) does not reach it, nor counts them."""
    token, counted = REPLY_BOUND.set(None), CUT_SHORT.set(None)
    try:
        yield
    finally:
        CUT_SHORT.reset(counted)
        REPLY_BOUND.reset(token)


async def _run_property(
    ctx: Context,
    check_id: str,
    strategy: st.SearchStrategy[T],
    evaluate: Callable[[T], Coroutine[Any, Any, PropertyFailed | None]],
    examples: int | None,
    search_bounded: bool = False,
    same: Callable[[T], object] = repr,
    cut: Callable[[T], tuple[T, str] | None] | None = None,
) -> Verdict:
    steady_constants()  # the same seed draws the same examples in both runs
    budget = Budget.for_driver(ctx.driver.kind, stops=True)
    loop = asyncio.get_running_loop()
    bound = example_bound(ctx.driver.timeout)
    # Both runs take the same settings and seed, and a body made by ``_body``: under the
    # derandomized profile Hypothesis seeds a run from the body's source, so they draw the
    # same examples (and the same as before examples overlapped); under the random profile
    # both runs are given the same seed.
    same_seed = shared_seed()
    # Hypothesis keeps nothing in its example database for a run given a seed.
    saved = same_seed is None
    run = functools.partial(_run_examples, strategy, profile(), examples or ctx.examples,
                            same_seed, f"{check_id}:{ctx.spec.digest()}".encode())
    if overlaps_first(ctx):
        pipeline = Pipeline(loop, bound, ctx.concurrency)
        if await asyncio.to_thread(_overlapping, run, _body(budget, pipeline, evaluate),
                                   pipeline):
            return Verdict()
        if BESIDE_OTHERS.get():
            return stopped_beside_others()
    # An example strayed, or none ran side by side: the run one example after another
    # decides; bounded from the start when asked, then as a fallback without that.
    for search in dict.fromkeys((search_bounded, False)):
        budget = Budget.for_driver(ctx.driver.kind, stops=True)
        budget.search, budget.same, budget.cut = search, same, cut
        verdict = await _one_after_another(ctx, run, evaluate, budget, bound, saved)
        if verdict is not None:
            return verdict
    return Verdict()


async def _one_after_another(
    ctx: Context,
    run: Callable[[Callable[[T], None]], bool],
    evaluate: Callable[[T], Coroutine[Any, Any, PropertyFailed | None]],
    budget: Budget,
    bound: float,
    saved: bool,
) -> Verdict | None:
    """The run one example after another, shrunk and confirmed (see :func:`_confirmed`); None
    when its failures were seen only at a bound and none holds at the full timeout."""
    loop = asyncio.get_running_loop()
    try:
        if await asyncio.to_thread(run, _body(budget, LoopBridge(loop, bound),
                                              _replays(budget, ctx, evaluate))):
            assert budget.best is not None  # stopped once the shrink budget was spent
            raise budget.best
    except PropertyFailed as exc:
        failure = exc
        if budget.best_bounded and (budget.best_key != budget.first_key
                                    or budget.first_bounded):
            return await _confirmed(budget, evaluate, bound, ctx.driver.timeout, saved)
        if budget.best_bounded:
            # No smaller failure was found: the example already failed at the full timeout,
            # and that observation is the verdict (no confirmation needed).
            assert budget.first is not None
            failure = budget.first[1]
        return Verdict(failure.problem, failure.observation,
                       notes=(*failure.notes, *_notes(budget, saved)))
    except Flaky as exc:
        if budget.bound is not None:  # a bounded replay may be what differed
            return await _confirmed(budget, evaluate, bound, ctx.driver.timeout, saved)
        obs = budget.best.observation if budget.best else None
        return Verdict(f"the app answered the same conversation differently on a replay: "
                       f"{str(exc).splitlines()[0]}", obs, notes=_notes(budget, saved))
    return Verdict()


def _replays(budget: Budget, ctx: Context,
             evaluate: Callable[[T], Coroutine[Any, Any, PropertyFailed | None]],
             ) -> Callable[[T], Coroutine[Any, Any, PropertyFailed | None]]:
    """``evaluate``, each example noted in ``budget`` and, once one has failed, its replies
    waited for at most :meth:`Budget.reply_bound`."""
    replies = getattr(ctx.driver, "replies", None)

    def replay(example: T) -> Coroutine[Any, Any, PropertyFailed | None]:
        wait = budget.reply_bound(ctx.driver.timeout, replies)
        budget.last_example, budget.last_bounded = example, wait is not None
        if wait is None:
            return _bounded(evaluate(example), wait)
        budget.bound = wait if budget.bound is None else min(budget.bound, wait)
        key = budget.same(example)
        if key in budget.known:
            return _known(budget.known[key])
        return _kept(budget, key, _bounded(evaluate(example), wait))

    return replay


async def _known(result: PropertyFailed | None) -> PropertyFailed | None:
    """A bounded replay's result, given again (see :func:`run_property`'s ``same``)."""
    return result


async def _kept(budget: Budget, key: object,
                coro: Coroutine[Any, Any, PropertyFailed | None]) -> PropertyFailed | None:
    """A bounded replay's result, kept for the same conversation again, and how long the
    replay took (see :meth:`Budget.spent`)."""
    started = time.monotonic()
    budget.known[key] = result = await coro
    budget.took = time.monotonic() - started
    return result


async def _bounded(coro: Coroutine[Any, Any, T], wait: float | None) -> T:
    token = REPLY_BOUND.set(wait)
    try:
        return await coro
    finally:
        REPLY_BOUND.reset(token)


async def _confirmed(budget: Budget,
                     evaluate: Callable[[Any], Coroutine[Any, Any, PropertyFailed | None]],
                     bound: float, timeout: float, saved: bool) -> Verdict | None:
    """The verdict on the smallest failure found with bounded replies, run once more at the
    full timeout; if it passes there, the first failure is it: as it was seen at the full
    timeout, or (a bounded search's, ``Budget.search``) once it fails again there. None when
    neither failure holds at the full timeout. ``saved``: see :func:`_notes`."""
    bridge = LoopBridge(asyncio.get_running_loop(), bound)

    async def again(example: object) -> PropertyFailed | None:
        try:
            return await asyncio.to_thread(bridge.run, evaluate(example))
        except ExampleTimedOut as exc:
            return exc

    if budget.first is None:  # nothing failed that could be run again
        return None
    where = "while searching and shrinking" if budget.first_bounded else "while shrinking"
    note = (f"{where}, a replay waited for a reply at most {REPLAY_FACTOR:g} times "
            f"the slowest reply seen (at least {REPLAY_FLOOR:g}s); the example above ")
    smaller = None if budget.cut is None else budget.cut(budget.best_example)
    if smaller is not None and (failure := await again(smaller[0])) is not None:
        return Verdict(failure.problem, failure.observation, notes=(
            *failure.notes, *_notes(budget, saved, cut=smaller[1]),
            note + f"failed again at the full {timeout:g}s timeout"))
    failure = await again(budget.best_example)
    if failure is not None:
        note += f"failed again at the full {timeout:g}s timeout"
    elif not budget.first_bounded:
        failure = budget.first[1]
        note += (f"is the first failure, seen at the full {timeout:g}s timeout: the smaller "
                 "one found while shrinking passed at the full timeout")
    elif budget.first_key != budget.best_key and \
            (failure := await again(budget.first[0])) is not None:
        note += (f"is the first failure, which failed again at the full {timeout:g}s "
                 "timeout: the smaller one found while shrinking passed there")
    else:
        return None
    return Verdict(failure.problem, failure.observation,
                   notes=(*failure.notes, *_notes(budget, saved), note))


def _body(budget: Budget, bridge: LoopBridge | Pipeline,
          evaluate: Callable[[T], Coroutine[Any, Any, PropertyFailed | None]],
          ) -> Callable[[T], None]:
    """The test Hypothesis runs: ``evaluate`` of one example through ``bridge``, its failure
    kept in ``budget``, and once the shrink budget is spent only the smallest failure."""

    # Its source seeds a derandomized run: a change to it changes the examples drawn.
    def body(example: T) -> None:
        budget.calls += 1
        key = repr(example)
        if budget.spent():
            if key == budget.best_key and budget.best is not None:
                raise budget.best
            return  # out of shrinking time: only the smallest failure so far still fails
        started = time.monotonic()
        try:
            failure = bridge.run(evaluate(example))
        except ExampleTimedOut as exc:
            budget.failed(key, exc, started)
            raise
        if failure is not None:
            budget.failed(key, failure)
            raise failure

    return body


def _run_examples(strategy: st.SearchStrategy[T], chosen: settings, max_examples: int,
                  same_seed: int | None, database_key: bytes,
                  body: Callable[[T], None]) -> bool:
    """One Hypothesis run of ``body`` over ``strategy`` (in a worker thread); True when it
    was stopped once the shrink budget was spent (:class:`ShrinkSpent`)."""
    test = given(strategy)(body)
    test = settings(chosen, max_examples=max_examples)(test)
    if same_seed is not None:
        test = seed(same_seed)(test)
    # One example database entry per check and protocol: replays stay relevant.
    set_database_key(test, database_key)
    with silenced():
        try:
            test()
        except ShrinkSpent:
            return True
    return False


def _overlapping(run: Callable[[Callable[[T], None]], bool], body: Callable[[T], None],
                 pipeline: Pipeline) -> bool:
    """The run with examples overlapping: True when every example agreed."""
    try:
        stopped = run(body)  # only after a failure: then not every example agreed
    finally:
        agreed = pipeline.drain()
    return agreed and not stopped


async def run_machine(
    ctx: Context,
    factory: Callable[[], RuleBasedStateMachine],
    budget: Budget,
    *,
    keeps_examples: bool = True,
    **machine_settings: Any,
) -> Verdict:
    """Run a state machine with Hypothesis in a worker thread; a verdict at the end.

    The machine reports a divergence by raising :class:`PropertyFailed` and records it in
    ``budget``, which also tells it when to stop doing anything (the shrink is over). A run
    that does not ``keeps_examples`` (one whose failures are no verdicts) replays what the
    example database holds first, as the run that keeps them does, but changes nothing in it.
    """

    # Documented to take "anything which returns an instance" when called; annotated as a
    # class. A factory closes over the run's session, which a class could only hold globally.
    as_class = cast(type[RuleBasedStateMachine], factory)
    steady_constants()  # the same seed draws the same examples in both runs
    chosen = profile()
    if not keeps_examples and chosen.database is not None:
        machine_settings["database"] = ReadOnlyDatabase(chosen.database)

    def run() -> None:
        with silenced():
            run_state_machine_as_test(as_class, settings=settings(chosen, **machine_settings))

    try:
        await asyncio.to_thread(run)
    except PropertyFailed as exc:
        return _stateful_verdict(exc, budget)
    except Flaky as exc:
        if budget.best is not None:  # the shrink budget ran out: report the smallest failure
            return _stateful_verdict(budget.best, budget)
        return Verdict(f"the app behaved differently on a replay: {str(exc).splitlines()[0]}")
    return Verdict()


def _notes(budget: Budget, saved: bool = True, cut: str | None = None) -> tuple[str, ...]:
    """How hard Hypothesis shrank, and how the failure comes back: from the example
    database only when the run could keep it there (``saved``; a seeded run cannot).
    ``cut``: how the example reported was cut from the smallest failure (see
    :func:`run_property`)."""
    if cut is not None:
        notes = [f"shrunk by Hypothesis over {budget.calls} runs"
                 + ("" if not budget.stopped else
                    f", until its {budget.seconds:g}s shrink budget ran out")
                 + f", then {cut}: the example above"]
    else:
        notes = [f"shrunk by Hypothesis over {budget.calls} runs to the minimal failing "
                 "example above" if not budget.stopped else
                 f"shrunk by Hypothesis over {budget.calls} runs, until its "
                 f"{budget.seconds:g}s shrink budget ran out: the example above is the "
                 "smallest failing one found by then"]
    if saved and profile().database is not None:
        notes.append(f"Hypothesis saved {'the example it was cut from' if cut else 'it'} in "
                     "its example database (.hypothesis/ in the directory pytest runs from): "
                     "the next run replays it first")
    return tuple(notes)


def _stateful_verdict(failure: PropertyFailed, budget: Budget) -> Verdict:
    notes = list(_notes(budget))
    if failure.steps:
        notes.append("the minimal sequence of steps, over all clients:\n  "
                     + "\n  ".join(failure.steps[-40:]))
    return Verdict(failure.problem, failure.observation, notes=tuple(notes))
