"""Property-based checks: generated messages and conversations, shrunk to a minimal failure.

Fixed cases catch the defects someone thought of; these catch the rest. Each property runs
Hypothesis in a worker thread while the conversations run on the check's own event loop, so the
same check works in-process and over the network.

Failing runs are kept short on purpose. Shrinking replays the app many times, and against an
app that stalls every replay costs a full timeout; so once a failure is found, shrinking gets a
budget (``SHRINK_SECONDS``). When it is spent every new candidate is declared passing, which
ends the shrink at the smallest failure found so far — still a real, replayed failure — and
the explain phase, which replays even more, is off.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from wscheck.checks import Context, Verdict, check
from wscheck.checks.auth import refusal_form
from wscheck.checks.echo import interleave
from wscheck.drivers.base import Connection
from wscheck.errors import CheckFailure
from wscheck.events import (
    FINAL_EVENTS,
    Accepted,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Event,
    SendText,
    Silence,
    describe,
)
from wscheck.model import ModelConnection
from wscheck.render import render_conversation
from wscheck.runner import Observation, run_conversation
from wscheck.spec import EchoSpec
from wscheck.strategies import (
    auth_conversations,
    cookie_values,
    echo_conversations,
    messages,
    tokens,
)

T = TypeVar("T")

#: Seconds of shrinking allowed after the first failure (see the module docstring): short
#: over a network, where a stalling app costs a timeout per replay; longer in-process, where
#: a replay costs about a millisecond and a better shrink is nearly free.
SHRINK_SECONDS = {"url": 1.0, "asgi": 3.0}

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


class PropertyFailed(CheckFailure):
    """One generated example failed; carries its observation."""

    def __init__(self, problem: str, observation: Observation,
                 steps: tuple[str, ...] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.observation = observation
        self.steps = steps


@dataclass
class _Budget:
    """Tracks the smallest failure so far and ends shrinking when time runs out."""

    seconds: float
    first_failure: float | None = None
    best_key: str | None = None
    best: PropertyFailed | None = None
    calls: int = 0

    def spent(self) -> bool:
        return self.first_failure is not None and \
            time.monotonic() - self.first_failure > self.seconds

    def failed(self, key: str, failure: PropertyFailed) -> None:
        if self.first_failure is None:
            self.first_failure = time.monotonic()
        self.best_key, self.best = key, failure


async def _hypothesis(
    ctx: Context,
    check_id: str,
    strategy: st.SearchStrategy[T],
    evaluate: Callable[[T], Coroutine[Any, Any, PropertyFailed | None]],
    examples: int | None = None,
) -> Verdict:
    """Run ``evaluate`` on examples of ``strategy`` with Hypothesis; a verdict at the end."""
    loop = asyncio.get_running_loop()
    budget = _Budget(SHRINK_SECONDS.get(ctx.driver.kind, 1.0))
    timeout = ctx.driver.timeout * 20 + 10  # a bound on one example, never reached normally

    def body(example: T) -> None:
        budget.calls += 1
        key = repr(example)
        if budget.spent():
            if key == budget.best_key and budget.best is not None:
                raise budget.best
            return  # out of shrinking time: only the smallest failure so far still fails
        failure = asyncio.run_coroutine_threadsafe(evaluate(example), loop).result(timeout)
        if failure is not None:
            budget.failed(key, failure)
            raise failure

    test = given(strategy)(body)
    test = settings(profile(), max_examples=examples or ctx.examples)(test)
    # One example database entry per check and protocol: replays stay relevant.
    test._hypothesis_internal_add_digest = f"{check_id}:{ctx.spec.digest()}".encode()  # type: ignore[attr-defined]

    def run() -> None:
        with with_reporter(_silent):
            test()

    try:
        await asyncio.to_thread(run)
    except PropertyFailed as exc:
        return Verdict(exc.problem, exc.observation, notes=_notes(budget))
    except Flaky as exc:
        obs = budget.best.observation if budget.best else None
        return Verdict(f"the app answered the same conversation differently on a replay: "
                       f"{str(exc).splitlines()[0]}", obs, notes=_notes(budget))
    except Exception as exc:  # e.g. an example that outlived its bound
        return Verdict(f"the property run stopped: {type(exc).__name__}: {exc}",
                       budget.best.observation if budget.best else None)
    return Verdict()


def _silent(value: object) -> None:
    """Hypothesis's reporter, silenced: the verdict says everything (the minimal conversation,
    the steps), and a worker thread's prints would land in the middle of pytest's output."""


def _notes(budget: _Budget) -> tuple[str, ...]:
    """How hard Hypothesis shrank, and how the failure comes back."""
    notes = [f"shrunk by Hypothesis over {budget.calls} runs to the minimal failing example "
             "above"]
    if profile().database is not None:
        notes.append("Hypothesis saved it in its example database (.hypothesis/ in the "
                     "directory pytest runs from): the next run replays it first")
    return tuple(notes)


def _stateful_verdict(failure: PropertyFailed, budget: _Budget) -> Verdict:
    notes = list(_notes(budget))
    if failure.steps:
        notes.append("the minimal sequence of steps, over all clients:\n  "
                     + "\n  ".join(failure.steps[-40:]))
    return Verdict(failure.problem, failure.observation, notes=tuple(notes))


def _mismatch(problem: str, obs: Observation) -> PropertyFailed | None:
    return None if obs.ok else PropertyFailed(problem, obs)


def _echo_quiet(ctx: Context) -> bool:
    # Over a network every final quiet window costs real time; generated conversations check
    # extra messages through the replies that follow instead, and the fixed checks keep the
    # final window.
    return ctx.driver.kind == "asgi"


@check("prop.echo", "MUST", "/ws 2",
       "for every generated message, the echo is exact", needs=["echo"])
async def prop_echo(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    path = ctx.spec.echo.url_path()

    async def evaluate(message: str) -> PropertyFailed | None:
        obs = await run_conversation(ctx.driver, ctx.spec, Conversation.of(path, message),
                                     quiet=_echo_quiet(ctx))
        return _mismatch("a generated message was not echoed exactly", obs)

    return await _hypothesis(ctx, "prop.echo", messages(ctx.spec), evaluate)


@check("prop.conversation", "MUST", "/ws 2-4",
       "for every generated conversation (lock-step or pipelined, any length, bye or not), "
       "the transcript is the model's", needs=["echo"])
async def prop_conversation(ctx: Context) -> Verdict:
    async def evaluate(conv: Conversation) -> PropertyFailed | None:
        obs = await run_conversation(ctx.driver, ctx.spec, conv, quiet=_echo_quiet(ctx))
        return _mismatch("a generated conversation did not go as the protocol says", obs)

    return await _hypothesis(ctx, "prop.conversation", echo_conversations(ctx.spec), evaluate)


@check("prop.auth", "MUST", "/item/ws 1-4",
       "for every combination of cookie, token and q (present, empty, absent), the transcript "
       "is the model's", needs=["auth"])
async def prop_auth(ctx: Context) -> Verdict:
    async def evaluate(conv: Conversation) -> PropertyFailed | None:
        obs = await run_conversation(ctx.driver, ctx.spec, conv, quiet=_echo_quiet(ctx))
        if obs.ok:
            return None
        # A refusal may take its wire form (close before accept, HTTP 403): the verdict of
        # auth.missing, whose note explains it, and not this property's business.
        assert ctx.spec.auth is not None
        code = ctx.spec.auth.denied_close_code
        if obs.expected == (Accepted(), Closed(code)) and refusal_form(obs, code):
            return None
        return PropertyFailed("a generated credentials conversation went wrong", obs)

    return await _hypothesis(ctx, "prop.auth", auth_conversations(ctx.spec), evaluate)


@check("prop.concurrent", "MUST", "/ws 5",
       "several generated clients interleaved each get exactly their own transcript",
       needs=["echo"])
async def prop_concurrent(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    path = ctx.spec.echo.url_path()
    clients = st.lists(st.lists(messages(ctx.spec, long=False), min_size=1, max_size=4),
                       min_size=2, max_size=5)

    async def evaluate(scripts: list[list[str]]) -> PropertyFailed | None:
        convs = [Conversation.of(path, *s) for s in scripts]
        together = await interleave(ctx, convs)
        # Each client must get what the same conversation gets alone. Comparing with a solo
        # run, not the model, keeps this about isolation: an app that echoes wrongly, but
        # the same way for everyone, is the other checks' business.
        for conv, obs in zip(convs, together):
            alone = await run_conversation(ctx.driver, ctx.spec, conv)
            if obs.observed != alone.observed:
                shown = Observation(conv, alone.observed, obs.observed)
                return PropertyFailed(
                    "with clients interleaved, one got other replies than it gets alone "
                    "(expected column: the same conversation run alone)", shown)
        return None

    return await _hypothesis(ctx, "prop.concurrent", clients, evaluate,
                             examples=max(10, ctx.examples // 4))


# --- stateful -------------------------------------------------------------------------------


@dataclass
class _Live:
    """One connection of the state machine, with its model and its transcripts so far."""

    conversation: Conversation
    model: ModelConnection
    connection: Connection | None  # None: a run after the shrink budget, which does nothing
    expected: list[Event]
    observed: list[Event]
    unread: int = 0
    gone: bool = False
    name: str = "client"

    def observation(self) -> Observation:
        return Observation(self.conversation, tuple(self.expected), tuple(self.observed))


@check("prop.stateful", "MUST", "/ws 2-5, /item/ws 3",
       "a state machine over several open connections (open, send, send many, read, bye, "
       "close, drop) "
       "always agrees with the model", needs=["echo"])
async def prop_stateful(ctx: Context) -> Verdict:
    loop = asyncio.get_running_loop()
    spec = ctx.spec
    assert spec.echo is not None
    echo: EchoSpec = spec.echo
    budget = _Budget(SHRINK_SECONDS.get(ctx.driver.kind, 1.0))
    bound = ctx.driver.timeout * 20 + 10

    def on_loop(coro: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(bound)

    class Machine(RuleBasedStateMachine):
        connections = Bundle("connections")

        def __init__(self) -> None:
            super().__init__()
            self.live: list[_Live] = []
            self.trace: list[str] = []  # the run so far, for the failure report
            budget.calls += 1
            # Out of shrinking time: run nothing, so every further candidate passes at once
            # and the smallest failure found so far is what gets reported.
            self.idle = budget.spent()

        def _open(self, conv: Conversation) -> _Live:
            model = ModelConnection(spec, conv)
            if self.idle:
                return _Live(conv, model, None, [], [], gone=True)
            expected = list(model.open())
            conn = on_loop(ctx.driver.connect(conv.path, conv.query, conv.cookies))
            live = _Live(conv, model, conn, expected, [conn.handshake],
                         unread=len(expected) - 1, name=f"client {len(self.live) + 1}")
            if spec.auth is not None and model.closed and refusal_form(
                    Observation(conv, tuple(expected), (conn.handshake,)),
                    spec.auth.denied_close_code) == "before-accept":
                # The refusal in its wire form conforms too (auth.missing explains it).
                live.expected, live.unread, live.gone = [conn.handshake], 0, True
            self.live.append(live)
            self.trace.append(f"{live.name}: {render_conversation(conv).splitlines()[0]}")
            return live

        @rule(target=connections)
        def open_echo(self) -> _Live:
            return self._open(Conversation(echo.url_path()))

        @precondition(lambda self: spec.auth is not None)
        @rule(target=connections, token=st.one_of(st.none(), tokens()),
              cookie=st.one_of(st.none(), cookie_values()))
        def open_auth(self, token: str | None, cookie: str | None) -> _Live:
            assert spec.auth is not None
            query = ((spec.auth.token, token),) if token is not None else ()
            cookies = ((spec.auth.cookie, cookie),) if cookie is not None else ()
            return self._open(Conversation(spec.auth.url_path(), (), query, cookies))

        def _act(self, live: _Live, action: SendText | ClientClose | Drop) -> None:
            if live.gone or live.connection is None or live.model.closed:
                return  # gone, or the server ended it (bye): nothing more to do on this one
            conn = live.connection
            self.trace.append(f"{live.name}: {describe(action)}")
            live.conversation = Conversation(
                live.conversation.path, (*live.conversation.actions, action),
                live.conversation.query, live.conversation.cookies)
            replies = live.model.step(action)
            live.expected.extend(replies)
            if isinstance(action, SendText):
                live.unread += len(replies)
                on_loop(conn.send_text(action.text))
            elif isinstance(action, ClientClose):
                self.read(live)
                live.gone = True
                on_loop(conn.close())
            else:
                self.read(live)
                live.gone = True
                on_loop(conn.drop())

        @rule(live=connections, message=messages(spec, long=False), then_read=st.booleans())
        def send(self, live: _Live, message: str, then_read: bool) -> None:
            self._act(live, SendText(message))
            if then_read:
                self.read(live)

        @rule(live=connections, burst=st.lists(messages(spec, long=False), min_size=2,
                                               max_size=5))
        def send_many(self, live: _Live, burst: list[str]) -> None:
            """Several messages before reading any reply (pipelining), then read them all."""
            for message in burst:
                self._act(live, SendText(message))
            self.read(live)

        @precondition(lambda self: echo.bye is not None)
        @rule(live=connections)
        def bye(self, live: _Live) -> None:
            if live.conversation.path == echo.url_path():
                assert echo.bye is not None
                self._act(live, SendText(echo.bye))

        @rule(live=connections)
        def read(self, live: _Live) -> None:
            if live.unread > 0 and not live.gone:
                self.trace.append(f"{live.name}: reads {live.unread} replies")
            while live.unread > 0 and not live.gone and live.connection is not None:
                event = on_loop(live.connection.receive())
                live.observed.append(event)
                live.unread -= 1
                if isinstance(event, (*FINAL_EVENTS, Silence)):
                    live.unread = 0
                self._check(live)
            self._check(live)

        @rule(live=connections)
        def close(self, live: _Live) -> None:
            self._act(live, ClientClose())

        @rule(live=connections)
        def drop(self, live: _Live) -> None:
            self._act(live, Drop())

        def _check(self, live: _Live) -> None:
            n = len(live.observed)
            if live.observed != live.expected[:n]:
                failure = PropertyFailed(f"{live.name} of the state machine diverged from "
                                         "the model", live.observation(), tuple(self.trace))
                budget.failed(repr(live.conversation), failure)
                raise failure

        def teardown(self) -> None:
            try:
                for live in self.live:
                    if not live.gone:
                        self.read(live)
                # Every open connection listens for its full quiet window, all at the same
                # time: over a network one window per example instead of one per connection.
                listening = [live for live in self.live
                             if not live.gone and live.connection is not None]

                async def quiet_all() -> list[Event | None]:
                    return list(await asyncio.gather(
                        *(live.connection.quiet() for live in listening
                          if live.connection is not None)))

                for live, extra in zip(listening, on_loop(quiet_all())):
                    if extra is not None:  # e.g. a reply meant for another client
                        live.observed.append(extra)
                        self._check(live)
            finally:
                for live in self.live:
                    if not live.gone and live.connection is not None:
                        on_loop(live.connection.close())

    Machine.TestCase.settings = settings(profile(), max_examples=max(10, ctx.examples),
                                         stateful_step_count=20)

    def run() -> None:
        with with_reporter(_silent):
            run_state_machine_as_test(Machine, settings=Machine.TestCase.settings)

    try:
        await asyncio.to_thread(run)
    except PropertyFailed as exc:
        return _stateful_verdict(exc, budget)
    except Flaky as exc:
        if budget.best is not None:  # the shrink budget ran out: report the smallest failure
            return _stateful_verdict(budget.best, budget)
        return Verdict(f"the app behaved differently on a replay: {str(exc).splitlines()[0]}")
    except Exception as exc:
        return Verdict(f"the property run stopped: {type(exc).__name__}: {exc}")
    return Verdict()
