"""The state machine over several open connections (``prop.stateful``).

Hypothesis drives :class:`ConnectionsMachine`: it opens connections to both endpoints (each
with the ``Origin`` header a browser sends or without, as drawn), sends one message or a
burst, reads, says the bye word, closes and drops, in any order over any of the open
connections, and every event read must be the one the model predicts at that point.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from hypothesis import seed
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, precondition, rule

from wscheck.checks.judging import (
    BOTH_LET_IN,
    find_leak,
    leak_problem,
    marker,
    refusal_form,
    refuses_everyone,
)
from wscheck.core.events import ClientClose, Conversation, Drop, Event, SendText, describe
from wscheck.core.render import render_conversation
from wscheck.generation.bridge import ExampleTimedOut, LoopBridge, Pipeline, PropertyFailed
from wscheck.generation.runner import (
    Budget,
    example_bound,
    overlaps_first,
    own_waits,
    run_machine,
    shared_seed,
    stopped_beside_others,
)
from wscheck.generation.strategies import cookie_values, messages, tokens
from wscheck.model.echo import ModelConnection
from wscheck.run.conversation import Exchange, Observation
from wscheck.run.registry import BESIDE_OTHERS, Context, Verdict, check

__all__ = ["ConnectionsMachine", "prop_stateful"]

#: One step of an example: everything a rule does after its draws, run on the check's loop.
Step = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Session:
    """What one ``prop.stateful`` run shares with every machine Hypothesis makes in it."""

    ctx: Context
    budget: Budget
    bridge: LoopBridge
    #: The first run's: each example's steps are recorded as Hypothesis draws them and run
    #: later, overlapping (see :func:`prop_stateful`). None: each step runs when drawn.
    pipeline: Pipeline | None = None
    messages: st.SearchStrategy[str] = field(init=False)
    bursts: st.SearchStrategy[list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.messages = messages(self.ctx.spec, long=False)
        self.bursts = st.lists(self.messages, min_size=2, max_size=5)


@dataclass
class _Live:
    """One connection of the state machine, with its model and its transcripts so far."""

    conversation: Conversation
    model: ModelConnection
    exchange: Exchange | None = None  # None until its step opens it
    expected: list[Event] = field(default_factory=list)
    unread: int = 0
    gone: bool = False
    name: str = "client"
    tag: str = ""  # in every message this client sends (isolation by provenance)

    @property
    def observed(self) -> list[Event]:
        return self.exchange.observed if self.exchange is not None else []

    def observation(self) -> Observation:
        return Observation(self.conversation, tuple(self.expected), tuple(self.observed))


class ConnectionsMachine(RuleBasedStateMachine):
    """Connections opened, used and ended in any order; each always agrees with the model.

    A rule draws what it needs, then hands the rest, one :data:`Step`, to :meth:`_do`. What a
    rule draws never depends on what the app answered, so the same draws make the same
    example whether each step runs as soon as it is drawn or the whole example runs later.
    """

    connections = Bundle("connections")

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.spec = session.ctx.spec
        assert self.spec.echo is not None
        self.echo = self.spec.echo
        self.live: list[_Live] = []
        self.trace: list[str] = []  # the run so far, for the failure report
        self.steps: list[Step] = []  # recorded, when the session has a pipeline
        self.started = time.monotonic()
        session.budget.calls += 1
        # Out of shrinking time: run nothing, so every further candidate passes at once
        # and the smallest failure found so far is what gets reported.
        self.idle = session.budget.spent()

    def _do(self, step: Step) -> None:
        """Run ``step`` on the check's loop now (a step out of time fails the run), or
        record it to run with the rest of the example."""
        if self.idle:
            return
        if self.session.pipeline is not None:
            self.steps.append(step)
            return
        self._now(step)

    def _now(self, step: Step) -> None:
        try:
            self.session.bridge.run(step())
        except ExampleTimedOut as exc:
            exc.steps = tuple(self.trace)
            self.session.budget.failed(repr(self.trace), exc, self.started)
            raise

    def _open(self, conv: Conversation) -> _Live:
        number = len(self.live) + 1
        live = _Live(conv, ModelConnection(self.spec, conv), name=f"client {number}",
                     tag=marker(number))
        self.live.append(live)

        async def step() -> None:
            live.expected = list(live.model.open())
            live.exchange = exchange = await Exchange.open(self.session.ctx.driver, conv)
            live.unread = len(live.expected) - 1
            auth = self.spec.auth
            handshake = exchange.observed[0]
            if auth is not None and live.model.closed and refusal_form(
                    Observation(conv, tuple(live.expected), (handshake,)),
                    auth.denied_close_code) == "before-accept":
                # The refusal in its wire form conforms too (auth.missing explains it).
                live.expected, live.unread, live.gone = [handshake], 0, True
            self.trace.append(f"{live.name}: {render_conversation(conv).splitlines()[0]}")

        self._do(step)
        return live

    # Each connection carries the Origin header a browser sends or not, as drawn: browsers
    # and other clients share a server, and the model predicts the same either way.
    @rule(target=connections, origin=st.booleans())
    def open_echo(self, origin: bool) -> _Live:
        return self._open(Conversation(self.echo.url_path(), origin=origin))

    @precondition(lambda self: self.spec.auth is not None)
    @rule(target=connections, token=st.one_of(st.none(), tokens()),
          cookie=st.one_of(st.none(), cookie_values()), origin=st.booleans())
    def open_auth(self, token: str | None, cookie: str | None, origin: bool) -> _Live:
        auth = self.spec.auth
        assert auth is not None
        query = ((auth.token, token),) if token is not None else ()
        cookies = ((auth.cookie, cookie),) if cookie is not None else ()
        return self._open(Conversation(auth.url_path(), (), query, cookies, origin=origin))

    async def _act(self, live: _Live, action: SendText | ClientClose | Drop) -> None:
        if live.gone or live.exchange is None or live.model.closed:
            return  # gone, or the server ended it (bye): nothing more to do on this one
        conn = live.exchange.connection
        self.trace.append(f"{live.name}: {describe(action)}")
        live.conversation = dataclasses.replace(
            live.conversation, actions=(*live.conversation.actions, action))
        replies = live.model.step(action)
        live.expected.extend(replies)
        if isinstance(action, SendText):
            live.unread += len(replies)
            await conn.send_text(action.text)
            return
        await self._read(live)
        live.gone = True
        await (conn.close() if isinstance(action, ClientClose) else conn.drop())

    async def _read(self, live: _Live) -> None:
        if live.unread > 0 and not live.gone and live.exchange is not None:
            self.trace.append(f"{live.name}: reads {live.unread} replies")
            await live.exchange.read(live.unread)
        live.unread = 0
        self._check(live)

    @rule(live=connections, data=st.data())
    def send(self, live: _Live, data: st.DataObject) -> None:
        text = live.tag + data.draw(self.session.messages)
        read = data.draw(st.booleans())

        async def step() -> None:
            await self._act(live, SendText(text))
            if read:
                await self._read(live)

        self._do(step)

    @rule(live=connections, data=st.data())
    def send_many(self, live: _Live, data: st.DataObject) -> None:
        """Several messages before reading any reply (pipelining), then read them all."""
        texts = [live.tag + message for message in data.draw(self.session.bursts)]

        async def step() -> None:
            for text in texts:
                await self._act(live, SendText(text))
            await self._read(live)

        self._do(step)

    @precondition(lambda self: self.echo.bye is not None)
    @rule(live=connections)
    def bye(self, live: _Live) -> None:
        if live.conversation.path == self.echo.url_path():
            assert self.echo.bye is not None
            self._do(lambda: self._act(live, SendText(self.echo.bye or "")))

    @rule(live=connections)
    def read(self, live: _Live) -> None:
        self._do(lambda: self._read(live))

    @rule(live=connections)
    def close(self, live: _Live) -> None:
        self._do(lambda: self._act(live, ClientClose()))

    @rule(live=connections)
    def drop(self, live: _Live) -> None:
        self._do(lambda: self._act(live, Drop()))

    def _check(self, live: _Live) -> None:
        # Isolation by provenance first (the rule of isolation.concurrent): a text carrying
        # another client's tag is a leak, whatever else is wrong with it.
        others = [other for other in self.live if other is not live and other.tag]
        leak = find_leak([live.observed, *([] for _ in others)],
                         [[live.tag], *([o.tag] for o in others)])
        if leak is not None:
            names = [live.name, *(o.name for o in others)]
            tags = [[live.tag], *([o.tag] for o in others)]
            failure = PropertyFailed(leak_problem(leak, names, tags), live.observation(),
                                     tuple(self.trace))
            self.session.budget.failed(repr(live.conversation), failure)
            raise failure
        n = len(live.observed)
        if live.observed != live.expected[:n]:
            failure = PropertyFailed(f"{live.name} of the state machine diverged from "
                                     "the model", live.observation(), tuple(self.trace))
            self.session.budget.failed(repr(live.conversation), failure)
            raise failure

    async def _finish(self) -> None:
        """Read what is still due, then every open connection listens for its full quiet
        window, all at the same time: one window per example, not one per connection."""
        for live in self.live:
            if not live.gone:
                await self._read(live)
        listening = [(live, live.exchange) for live in self.live
                     if not live.gone and live.exchange is not None]
        extras = await asyncio.gather(*(ex.connection.quiet() for _, ex in listening))
        for (live, ex), extra in zip(listening, extras):
            if extra is not None:  # e.g. a reply meant for another client
                ex.observed.append(extra)
                self._check(live)

    async def _close_all(self) -> None:
        for live in self.live:
            if not live.gone and live.exchange is not None:
                live.gone = True
                await live.exchange.connection.close()

    async def _example(self) -> PropertyFailed | None:
        """The recorded example, whole: its steps, the end, and its connections closed."""
        try:
            for step in self.steps:
                await step()
            await self._finish()
        except PropertyFailed as failure:
            return failure
        finally:
            await self._close_all()
        return None

    def teardown(self) -> None:
        pipeline = self.session.pipeline
        if pipeline is not None:
            if not self.idle:
                pipeline.run(self._example())
            return
        try:
            self._do(self._finish)
        finally:
            if not self.idle:
                self._now(self._close_all)


#: Steps of one run of the machine, at most.
MACHINE_STEPS = 20


def machine_runs(examples: int) -> int:
    """Runs of the machine for ``examples`` (the ``examples`` setting): half as many, at least
    10. One run is up to :data:`MACHINE_STEPS` steps over several connections, the work of
    several examples of one conversation (``prop.concurrent`` likewise runs a quarter as many
    examples of several clients each). At 100 runs the machine alone took about 0.9 s of an
    in-process suite whose other checks fit in its 2 s pause, on a 2-core VM; at 50 about
    0.45 s, and every broken app of the kill matrix still fails the same checks
    (``tests/test_broken_apps.py``)."""
    return max(10, examples // 2)


@check("prop.stateful", "MUST", "/ws 2-5, /item/ws 3",
       "a state machine over several open connections (open, with or without the Origin "
       "header a browser sends, send, send many, read, bye, close, drop) always agrees with "
       "the model", needs=["echo"],
       precondition=BOTH_LET_IN)
async def prop_stateful(ctx: Context) -> Verdict:
    with own_waits():  # its replays' waits are its own to bound and confirm
        return await _prop_stateful(ctx)


async def _prop_stateful(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    paths = [ctx.spec.echo.url_path()]
    if ctx.spec.auth is not None:
        paths.append(ctx.spec.auth.url_path())
    gap = await refuses_everyone(ctx, *paths)  # precondition: each endpoint serves a client
    if gap is not None:
        return gap
    # Run one step after another, each example waits for every reply and then for its quiet
    # window before the next example is drawn: most of this check's time over a network,
    # and against an app slow to answer. So a first run records each example's steps as
    # Hypothesis draws them and runs the examples overlapping, up to ctx.concurrency at
    # once (:class:`Pipeline`), and is trusted only when every example agreed with the
    # model. Otherwise the check runs again one step after another, drawing the same
    # examples, and that run, its shrink and its steps are the verdict (an app whose clients
    # interfere is judged as it always was). Confirming alone what it found beside other
    # checks, it runs one step after another straight away (see CONFIRMING_ALONE).
    same_seed = shared_seed()
    if overlaps_first(ctx):
        first = await _run_stateful(ctx, same_seed, overlapping=True)
        if first is not None and first.passed:
            return first
        if BESIDE_OTHERS.get():
            return stopped_beside_others()
    alone = await _run_stateful(ctx, same_seed, overlapping=False)
    assert alone is not None
    return alone


async def _run_stateful(ctx: Context, same_seed: int | None, *,
                        overlapping: bool) -> Verdict | None:
    """One run of the machine; with ``overlapping``, None when an example strayed (the
    overlapping run gives no verdict then)."""
    budget = Budget.for_driver(ctx.driver.kind)
    loop = asyncio.get_running_loop()
    bound = example_bound(ctx.driver.timeout)
    pipeline = Pipeline(loop, bound, ctx.concurrency) if overlapping else None
    session = Session(ctx, budget, LoopBridge(loop, bound), pipeline)

    # The same function in both runs: under the derandomized profile Hypothesis seeds a run
    # from it (and from the machine's source); under the random profile both runs are given
    # the same seed.
    def machine() -> ConnectionsMachine:
        return ConnectionsMachine(session)

    if same_seed is not None:
        machine = seed(same_seed)(machine)
    # The overlapping run's failures are not verdicts (an example that strayed may only have
    # met another's traffic), so it keeps nothing in the example database: a failure it
    # saved would be replayed first by the run alone, which would then not draw what it drew.
    # It does replay what the database holds, as the run alone does first: without them, the
    # run alone drew those examples ahead of the overlapping run's (the key is the machine's,
    # shared by every app and spec), one a failure of another app.
    try:
        verdict = await run_machine(ctx, machine, budget, keeps_examples=pipeline is None,
                                    max_examples=machine_runs(ctx.examples),
                                    stateful_step_count=MACHINE_STEPS)
    finally:
        agreed = pipeline is None or await asyncio.to_thread(pipeline.drain)
    return verdict if agreed else None
