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
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, precondition, rule

from wscheck.events import ClientClose, Conversation, Drop, Event, SendText, describe
from wscheck.hypothesis_runner import (
    Budget,
    ExampleTimedOut,
    LoopBridge,
    PropertyFailed,
    example_bound,
    run_machine,
)
from wscheck.judging import (
    BOTH_LET_IN,
    find_leak,
    leak_problem,
    marker,
    refusal_form,
    refuses_everyone,
)
from wscheck.model import ModelConnection
from wscheck.registry import Context, Verdict, check
from wscheck.render import render_conversation
from wscheck.runner import Exchange, Observation
from wscheck.strategies import cookie_values, messages, tokens

__all__ = ["ConnectionsMachine", "prop_stateful"]

T = TypeVar("T")


@dataclass
class Session:
    """What one ``prop.stateful`` run shares with every machine Hypothesis makes in it."""

    ctx: Context
    budget: Budget
    bridge: LoopBridge
    messages: st.SearchStrategy[str] = field(init=False)
    bursts: st.SearchStrategy[list[str]] = field(init=False)

    #: Over a network: each example's final quiet window runs on after the example, beside
    #: the next ones (see :func:`prop_stateful`); these are the windows still listening.
    defer: bool = False
    deferred: list[asyncio.Future[bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.messages = messages(self.ctx.spec, long=False)
        self.bursts = st.lists(self.messages, min_size=2, max_size=5)

    async def settle(self) -> bool:
        """Wait for every deferred window; True when one of them heard something."""
        heard = await asyncio.gather(*self.deferred)
        self.deferred.clear()
        return any(heard)


@dataclass
class _Live:
    """One connection of the state machine, with its model and its transcripts so far."""

    conversation: Conversation
    model: ModelConnection
    exchange: Exchange | None  # None: a run after the shrink budget, which does nothing
    expected: list[Event]
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
    """Connections opened, used and ended in any order; each always agrees with the model."""

    connections = Bundle("connections")

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.spec = session.ctx.spec
        assert self.spec.echo is not None
        self.echo = self.spec.echo
        self.live: list[_Live] = []
        self.trace: list[str] = []  # the run so far, for the failure report
        self.started = time.monotonic()
        session.budget.calls += 1
        # Out of shrinking time: run nothing, so every further candidate passes at once
        # and the smallest failure found so far is what gets reported.
        self.idle = session.budget.spent()

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the check's loop; a step out of time fails the run."""
        try:
            return self.session.bridge.run(coro)
        except ExampleTimedOut as exc:
            exc.steps = tuple(self.trace)
            self.session.budget.failed(repr(self.trace), exc, self.started)
            raise

    def _open(self, conv: Conversation) -> _Live:
        model = ModelConnection(self.spec, conv)
        if self.idle:
            return _Live(conv, model, None, [], gone=True)
        expected = list(model.open())
        exchange = self._await(Exchange.open(self.session.ctx.driver, conv))
        handshake = exchange.observed[0]
        number = len(self.live) + 1
        live = _Live(conv, model, exchange, expected, unread=len(expected) - 1,
                     name=f"client {number}", tag=marker(number))
        auth = self.spec.auth
        if auth is not None and model.closed and refusal_form(
                Observation(conv, tuple(expected), (handshake,)),
                auth.denied_close_code) == "before-accept":
            # The refusal in its wire form conforms too (auth.missing explains it).
            live.expected, live.unread, live.gone = [handshake], 0, True
        self.live.append(live)
        self.trace.append(f"{live.name}: {render_conversation(conv).splitlines()[0]}")
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

    def _act(self, live: _Live, action: SendText | ClientClose | Drop) -> None:
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
            self._await(conn.send_text(action.text))
            return
        self.read(live)
        live.gone = True
        self._await(conn.close() if isinstance(action, ClientClose) else conn.drop())

    @rule(live=connections, data=st.data())
    def send(self, live: _Live, data: st.DataObject) -> None:
        message = data.draw(self.session.messages)
        self._act(live, SendText(live.tag + message))
        if data.draw(st.booleans()):
            self.read(live)

    @rule(live=connections, data=st.data())
    def send_many(self, live: _Live, data: st.DataObject) -> None:
        """Several messages before reading any reply (pipelining), then read them all."""
        for message in data.draw(self.session.bursts):
            self._act(live, SendText(live.tag + message))
        self.read(live)

    @precondition(lambda self: self.echo.bye is not None)
    @rule(live=connections)
    def bye(self, live: _Live) -> None:
        if live.conversation.path == self.echo.url_path():
            assert self.echo.bye is not None
            self._act(live, SendText(self.echo.bye))

    @rule(live=connections)
    def read(self, live: _Live) -> None:
        if live.unread > 0 and not live.gone and live.exchange is not None:
            self.trace.append(f"{live.name}: reads {live.unread} replies")
            self._await(live.exchange.read(live.unread))
        live.unread = 0
        self._check(live)

    @rule(live=connections)
    def close(self, live: _Live) -> None:
        self._act(live, ClientClose())

    @rule(live=connections)
    def drop(self, live: _Live) -> None:
        self._act(live, Drop())

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

    def _defer(self, exchanges: list[Exchange]) -> None:
        """Listen out this example's quiet window beside the next examples, then close;
        at most ``ctx.concurrency`` windows at once."""
        session = self.session

        async def window() -> bool:
            try:
                extras = await asyncio.gather(*(ex.connection.quiet() for ex in exchanges))
            finally:
                await asyncio.gather(*(ex.connection.close() for ex in exchanges))
            return any(extra is not None for extra in extras)

        async def start() -> None:
            if len(session.deferred) >= max(1, session.ctx.concurrency):
                oldest = session.deferred.pop(0)
                if await oldest:
                    session.deferred.append(_heard())
            session.deferred.append(asyncio.ensure_future(window()))

        self._await(start())

    def teardown(self) -> None:
        try:
            for live in self.live:
                if not live.gone:
                    self.read(live)
            # Every open connection listens for its full quiet window, all at the same
            # time: over a network one window per example instead of one per connection.
            listening = [(live, live.exchange) for live in self.live
                         if not live.gone and live.exchange is not None]
            if self.session.defer and listening:
                self._defer([ex for _, ex in listening])
                for live, _ in listening:
                    live.gone = True  # closed by the deferred window
                return

            async def quiet_all() -> list[Event | None]:
                return list(await asyncio.gather(
                    *(ex.connection.quiet() for _, ex in listening)))

            for (live, ex), extra in zip(listening, self._await(quiet_all())):
                if extra is not None:  # e.g. a reply meant for another client
                    ex.observed.append(extra)
                    self._check(live)
        finally:
            for live in self.live:
                if not live.gone and live.exchange is not None:
                    self._await(live.exchange.connection.close())


@check("prop.stateful", "MUST", "/ws 2-5, /item/ws 3",
       "a state machine over several open connections (open, with or without the Origin "
       "header a browser sends, send, send many, read, bye, close, drop) always agrees with "
       "the model", needs=["echo"],
       precondition=BOTH_LET_IN)
async def prop_stateful(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    paths = [ctx.spec.echo.url_path()]
    if ctx.spec.auth is not None:
        paths.append(ctx.spec.auth.url_path())
    gap = await refuses_everyone(ctx, *paths)  # precondition: each endpoint serves a client
    if gap is not None:
        return gap
    # Over a network each example ends with a quiet window (0.2 s) on its open connections,
    # most of this check's time one after another. So a first run lets each window listen
    # on beside the next examples, and is trusted only when it passed and no window heard
    # anything; otherwise the check runs again with every window in its example, as one
    # after another, and that run is the verdict (an app whose late messages or whose
    # clients interfere is judged as it always was). In-process a window costs nothing.
    if ctx.driver.kind != "asgi" and ctx.concurrency > 1:
        verdict, heard = await _run_stateful(ctx, defer=True)
        if verdict.passed and not heard:
            return verdict
    verdict, _ = await _run_stateful(ctx, defer=False)
    return verdict


async def _run_stateful(ctx: Context, *, defer: bool) -> tuple[Verdict, bool]:
    budget = Budget.for_driver(ctx.driver.kind)
    bridge = LoopBridge(asyncio.get_running_loop(), example_bound(ctx.driver.timeout))
    session = Session(ctx, budget, bridge, defer=defer)

    def machine() -> ConnectionsMachine:
        return ConnectionsMachine(session)

    try:
        verdict = await run_machine(ctx, machine, budget, max_examples=max(10, ctx.examples),
                                    stateful_step_count=20)
    finally:
        heard = await session.settle()
    return verdict, heard


def _heard() -> asyncio.Future[bool]:
    """A finished window that heard something (kept so that :meth:`Session.settle` says so)."""
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    done.set_result(True)
    return done
