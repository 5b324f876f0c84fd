"""The checks of an API read from an AsyncAPI 3.0 document, named after its operations.

For each request/reply operation ``R`` (the server receives, then replies):
``asyncapi.R.reply`` (an answer comes, on the reply's channel, with the request's correlation
id), ``asyncapi.R.schema`` (it is valid against a reply message's schema),
``asyncapi.R.unsolicited`` (nothing else comes that the endpoint's operations do not
describe), ``asyncapi.R.isolation`` (another client never gets it) and ``asyncapi.R.prop``
(all of that for requests generated from the request's schema, shrunk to the smallest
failing conversation). For each message ``S`` the server sends on its own:
``asyncapi.S.schema``. ``asyncapi.stateful`` is a Hypothesis state machine over several
connections (connect, request, close). The rules for telling messages apart are
:mod:`wscheck.model.api`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule

from wscheck.core.api import ApiEndpoint, ApiOperation, ApiSpec
from wscheck.core.events import (
    Accepted,
    Binary,
    Conversation,
    Event,
    SendText,
    Text,
    describe,
)
from wscheck.core.spec import Spec
from wscheck.generation.bridge import LoopBridge, PropertyFailed
from wscheck.generation.runner import Budget, example_bound, run_machine, run_property
from wscheck.generation.strategies import api_payloads
from wscheck.model.api import (
    Reading,
    belongs,
    correlation_problem,
    other_message,
    read,
    schema_problem,
    send_operation,
    simplest_payload,
)
from wscheck.run.conversation import Exchange, Observation
from wscheck.run.registry import SUITE, Check, CheckFn, Context, Inconclusive, Verdict

__all__ = ["api_checks", "problem_kind", "rejudge"]

#: Most messages read while waiting for one reply (the server's own ones are skipped).
MAX_SKIPPED = 20
#: Steps of one run of the state machine, at most.
STATEFUL_STEPS = 20


@dataclass(frozen=True)
class _Exchanged:
    """One connection's requests and what came back: ``replies[i]`` is the index in
    ``observed`` of the reply to request ``i``, or None."""

    conversation: Conversation
    observed: tuple[Event, ...]
    replies: tuple[int | None, ...]

    def observation(self, at: int | None = None, expected: str = "") -> Observation:
        """The evidence: the observed transcript, and beside it the same with what was
        expected in place of event ``at`` (an expectation the model states in words)."""
        want = list(self.observed)
        if at is not None:
            note = Text(f"<{expected}>")
            if at < len(want):
                want[at] = note
            else:
                want.append(note)
        return Observation(self.conversation, tuple(want), self.observed)


def _conversation(endpoint: ApiEndpoint, requests: list[str]) -> Conversation:
    return Conversation(endpoint.path, tuple(SendText(r) for r in requests),
                        endpoint.query, endpoint.cookies)


async def _exchange(ctx: Context, api: ApiSpec, op: ApiOperation | None, endpoint: int,
                    requests: list[str]) -> _Exchanged:
    """Send ``requests`` one after another, each answered before the next: the answer is
    the first text that is not one of the server's own messages (``send`` operations)."""
    conv = _conversation(api.endpoints[endpoint], requests)
    replies: list[int | None] = []
    async with await Exchange.open(ctx.driver, conv) as ex:
        if ex.observed[:1] != [Accepted()]:
            raise Inconclusive(f"the endpoint {conv.path} refused the connection",
                               Observation(conv, (Accepted(),), tuple(ex.observed)))
        for request in requests:
            await ex.connection.send_text(request)
            found = None
            for _ in range(MAX_SKIPPED):
                if not await ex.read(1):
                    break
                event = ex.observed[-1]
                reading = _message_of(event)
                if reading is not None and send_operation(
                        api, endpoint, reading, unless=op) is None:
                    found = len(ex.observed) - 1
                    break
            replies.append(found)
            if not ex.listening:
                break
        if ex.listening:
            await ex.drain()
        if not ex.ended:
            await ex.connection.close()
        await ex.connection.finish()
    replies += [None] * (len(requests) - len(replies))
    return _Exchanged(conv, tuple(ex.observed), tuple(replies))


def _labels(op: ApiOperation) -> str:
    return ", ".join(m.label for m in op.replies or ())


def _reply_problem(api: ApiSpec, op: ApiOperation, run: _Exchanged,
                   requests: list[str]) -> tuple[str, int] | None:
    """Why a request of ``run`` went unanswered, answered on the wrong channel or with
    another correlation id (``asyncapi.R.reply``), and where."""
    for i, (request, at) in enumerate(zip(requests, run.replies)):
        if at is None:
            last = len(run.observed)
            return (f"request {i + 1} got no reply (expected one of {_labels(op)})", last)
        reply = _reply_at(run, at)
        other = other_message(api, op, reply)
        if other is not None:
            return (f"the reply to request {i + 1} is {other.label}, a message of channel "
                    f"{other.channel!r}, not one of the reply's ({_labels(op)})", at)
        problem = correlation_problem(op, read(request), reply)
        if problem is not None:
            return f"request {i + 1}: {problem}", at
    return None


def _message_of(event: Event) -> Reading | None:
    """A message the server sent (text or binary) as a payload; None for any other event."""
    if isinstance(event, Text):
        return read(event.text)
    if isinstance(event, Binary):
        return read(event.data)
    return None


def _reply_at(run: _Exchanged, at: int) -> Reading:
    reading = _message_of(run.observed[at])
    assert reading is not None  # replies are messages (see _exchange)
    return reading


def _schema_problem(api: ApiSpec, op: ApiOperation,
                    run: _Exchanged) -> tuple[str, int] | None:
    """Why a reply of ``run`` is not valid against the reply's messages
    (``asyncapi.R.schema``); replies that are another check's business are passed over."""
    for i, at in enumerate(run.replies):
        if at is None:
            continue
        reply = _reply_at(run, at)
        if other_message(api, op, reply) is not None:
            continue
        replies = op.replies or ()
        if any(schema_problem(m, reply) is None for m in replies):
            continue
        target = next((m for m in replies if belongs(m, reply)), replies[0])
        problem = schema_problem(target, reply)
        return (f"the reply to request {i + 1} is not a valid {target.label}: {problem}", at)
    return None


def _extra_problem(api: ApiSpec, op: ApiOperation, run: _Exchanged) -> tuple[str, int] | None:
    """A text that is neither a reply of ``op`` nor one of the server's own messages
    (``asyncapi.R.unsolicited``)."""
    answers = {i for i in run.replies if i is not None}
    for at, event in enumerate(run.observed):
        reading = _message_of(event)
        if reading is None or at in answers:
            continue
        if any(belongs(m, reading) for m in op.replies or ()):
            continue
        if send_operation(api, op.endpoint, reading) is not None:
            continue
        return (f"an unexpected message: no reply of {op.id} ({_labels(op)}) and no message "
                "the server sends on its own here", at)
    return None


@lru_cache(maxsize=64)
def _fixed_requests(op: ApiOperation) -> tuple[str, ...]:
    """The requests the fixed checks send: the document's examples, the simplest payload of
    each request message, and the same with its correlation id set; those valid against
    their schema."""
    found: list[str] = []
    for message in op.messages:
        candidates: list[Any] = [json.loads(e) for e in message.examples[:3]]
        simplest = simplest_payload(message)
        candidates.append(simplest)
        if message.correlation and isinstance(simplest, dict):
            candidates += [_with(simplest, message.correlation, v) for v in (7, "7")]
        for value in candidates:
            text = value if message.text and isinstance(value, str) else json.dumps(value)
            if schema_problem(message, read(text)) is None:
                found.append(text)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise Inconclusive(f"no valid payload of {op.id}'s request could be made from its "
                           "schema")
    return tuple(unique)


def _with(value: Any, tokens: tuple[str, ...], leaf: Any) -> Any:
    """A copy of ``value`` with ``leaf`` at the JSON pointer ``tokens``."""
    if not tokens:
        return leaf
    inner = value.get(tokens[0], {}) if isinstance(value, dict) else {}
    return {**(value if isinstance(value, dict) else {}),
            tokens[0]: _with(inner, tokens[1:], leaf)}


def _request_payloads(op: ApiOperation) -> st.SearchStrategy[str]:
    """Requests of ``op`` drawn from its messages' schemas (hypothesis-jsonschema); a schema
    nothing can satisfy, or one it cannot read, leaves the property inconclusive, in a line."""
    try:
        strategy = st.one_of(*(api_payloads(m) for m in op.messages))
        strategy.validate()
        empty = strategy.is_empty
    except Exception as exc:  # hypothesis-jsonschema's refusals have no common class
        raise Inconclusive(f"no request of {op.id} can be drawn from its schema: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    if empty:
        raise Inconclusive(f"no request of {op.id} can be drawn: its schema admits nothing")
    return strategy


def _has_correlation(tokens: tuple[str, ...], text: str) -> bool:
    value = read(text).value
    for token in tokens:
        if not isinstance(value, dict) or token not in value:
            return False
        value = value[token]
    return True


def _verdict(run: _Exchanged, found: tuple[str, int] | None, expected: str) -> Verdict:
    if found is None:
        return Verdict()
    problem, at = found
    return Verdict(problem=problem, observation=run.observation(at, expected))


def _request_checks(api: ApiSpec, op: ApiOperation) -> list[Check]:
    """The checks of one request/reply operation."""
    line = f"operation {op.id}"
    pre = f"the endpoint {api.endpoints[op.endpoint].path} accepts a connection"
    labels = _labels(op)

    async def reply(ctx: Context) -> Verdict:
        requests = list(_fixed_requests(op))
        run = await _exchange(ctx, api, op, op.endpoint, requests)
        return _verdict(run, _reply_problem(api, op, run, requests), f"one of {labels}")

    async def schema(ctx: Context) -> Verdict:
        run = await _exchange(ctx, api, op, op.endpoint, list(_fixed_requests(op)))
        return _verdict(run, _schema_problem(api, op, run), f"a valid one of {labels}")

    async def unsolicited(ctx: Context) -> Verdict:
        run = await _exchange(ctx, api, op, op.endpoint, list(_fixed_requests(op)))
        return _verdict(run, _extra_problem(api, op, run), "nothing else")

    async def isolation(ctx: Context) -> Verdict:
        return await _isolation(ctx, api, op)

    async def prop(ctx: Context) -> Verdict:
        requests = st.lists(_request_payloads(op), min_size=1, max_size=3)

        async def evaluate(sent: list[str]) -> PropertyFailed | None:
            run = await _exchange(ctx, api, op, op.endpoint, sent)
            for judge in (_reply_problem(api, op, run, sent), _schema_problem(api, op, run),
                          _extra_problem(api, op, run)):
                if judge is not None:
                    return PropertyFailed(judge[0], run.observation(judge[1], labels))
            return None

        await _exchange(ctx, api, op, op.endpoint, [])  # precondition: a client is let in
        return await run_property(ctx, f"asyncapi.{op.id}.prop", requests, evaluate)

    made: list[tuple[str, str, CheckFn]] = [
        ("reply", f"every request is answered with one of {labels}, with the request's "
                  "correlation id where the document places one", reply),
        ("schema", f"every reply is valid against its message's schema ({labels})", schema),
        ("unsolicited", "nothing comes that neither the reply nor a send operation of the "
                        "endpoint describes", unsolicited),
        ("isolation", "another client connected meanwhile never receives the reply",
         isolation),
        ("prop", "for every generated request (from the request's schema), the reply is "
                 "there, on its channel, correlated and valid, and nothing else comes", prop),
    ]
    return [Check(f"asyncapi.{op.id}.{suffix}", "MUST", line, text, frozenset(), fn, pre)
            for suffix, text, fn in made]


async def _isolation(ctx: Context, api: ApiSpec, op: ApiOperation) -> Verdict:
    """Two clients: the first asks, the second says nothing and must receive no reply."""
    requests = list(_fixed_requests(op))[:1]
    endpoint = api.endpoints[op.endpoint]
    quiet = _conversation(endpoint, [])
    async with await Exchange.open(ctx.driver, quiet) as other:
        if other.observed[:1] != [Accepted()]:
            raise Inconclusive(f"the endpoint {quiet.path} refused the connection",
                               Observation(quiet, (Accepted(),), tuple(other.observed)))
        asker = await _exchange(ctx, api, op, op.endpoint, requests)
        if asker.replies[0] is None:
            raise Inconclusive(f"{op.id}'s request got no reply: nothing to keep apart",
                               asker.observation())
        await other.drain()
        await other.connection.close()
        await other.connection.finish()
    replies = [m for o in api.requests() if o.endpoint == op.endpoint for m in o.replies or ()]
    for at, event in enumerate(other.observed):
        reading = _message_of(event)
        if reading is None:
            continue
        if send_operation(api, op.endpoint, reading) is None and any(
                belongs(m, reading) for m in replies):
            shown = _Exchanged(quiet, tuple(other.observed), ())
            return Verdict(
                problem=f"a client that sent nothing received a reply meant for another "
                        f"client's {op.id} request", observation=shown.observation(at,
                                                                             "nothing"),
                notes=("the asking client's conversation:\n" + str(asker.observation()),))
    return Verdict()


def _send_problem(api: ApiSpec, op: ApiOperation,
                  run: _Exchanged) -> tuple[str, int] | bool | None:
    """Why a message of ``run`` that the server sent on its own as ``op`` is invalid; None
    when those seen are valid, False when none was seen. A message is ``op``'s when it is
    (or claims to be) one of its messages, or when ``op`` is the endpoint's only ``send``
    and no other describes it."""
    only = len(api.sends(op.endpoint)) == 1
    seen = False
    for at, event in enumerate(run.observed):
        reading = _message_of(event)
        if reading is None:
            continue
        mine = [m for m in op.messages if belongs(m, reading)]
        if not mine and not (only and send_operation(api, op.endpoint, reading) is None):
            continue
        seen = True
        if any(schema_problem(m, reading) is None for m in op.messages):
            continue
        target = (mine or list(op.messages))[0]
        return (f"a message the server sent on its own is not a valid {target.label}: "
                f"{schema_problem(target, reading)}", at)
    return None if seen else False


def _send_check(api: ApiSpec, op: ApiOperation) -> Check:
    """The check of a message the server sends on its own."""
    labels = ", ".join(m.label for m in op.messages)

    async def schema(ctx: Context) -> Verdict:
        run = await _exchange(ctx, api, None, op.endpoint, [])
        found = _send_problem(api, op, run)
        if found is False:
            return Verdict.unobserved(f"the server sent no {op.id} message on its own within "
                                      "the quiet window", run.observation())
        assert found is None or isinstance(found, tuple)
        return _verdict(run, found, f"a valid one of {labels}")

    return Check(f"asyncapi.{op.id}.schema", "MUST", f"operation {op.id}",
                 f"every message the server sends on its own as {op.id} is valid against its "
                 f"schema ({labels})", frozenset(), schema,
                 "the server sends such a message on a fresh connection")


#: The kinds of problem the checks find, by the words that start or carry them: what groups
#: alike failures under load (Locust's failure table, one example each).
_PROBLEM_KINDS = (("got no reply", "no reply"), ("a message of channel", "reply on the wrong "
                  "channel"), ("correlation id", "wrong correlation id"),
                  ("is not a valid", "invalid reply"), ("an unexpected message",
                                                        "unexpected message"))


def problem_kind(problem: str) -> str:
    """A short, stable name for the kind of ``problem`` (never what it held)."""
    return next((name for words, name in _PROBLEM_KINDS if words in problem), "other problem")


async def rejudge(ctx: Context, check_id: str,
                  conversation: Conversation) -> tuple[Observation, str | None]:
    """``conversation`` (a failure's, from a report) run again on its endpoint and judged by
    the rules of ``check_id``: the observation and the problem, or None when it now
    conforms. A check of several clients (``isolation``, ``stateful``) is judged on this one
    client's requests by the rules of the request's operation."""
    api = ctx.spec.api
    assert api is not None
    requests = [a.text for a in conversation.actions if isinstance(a, SendText)]
    name, _, kind = check_id.removeprefix("asyncapi.").rpartition(".")
    ops = [o for o in api.operations if o.id == name]
    if not ops:
        ops = [o for o in api.requests() if any(
            belongs(m, read(r)) for m in o.messages for r in requests[:1])] or list(
            api.requests())
    op = ops[0]
    run = await _exchange(ctx, api, op if op.replies is not None else None, op.endpoint,
                          requests)
    if op.action == "send":
        found = _send_problem(api, op, run)
        judged = None if found is False else found
        return run.observation(judged[1] if isinstance(judged, tuple) else None,
                               "a valid message"), judged[0] if isinstance(judged, tuple) \
            else None
    judges = {"reply": [_reply_problem(api, op, run, requests)],
              "schema": [_schema_problem(api, op, run)],
              "unsolicited": [_extra_problem(api, op, run)]}.get(
        kind, [_reply_problem(api, op, run, requests), _schema_problem(api, op, run),
               _extra_problem(api, op, run)])
    for judge in judges:
        if judge is not None:
            return run.observation(judge[1], _labels(op)), judge[0]
    return run.observation(), None


@dataclass
class _Client:
    """One connection of the state machine: its endpoint, its requests and what it saw."""

    name: str
    endpoint: int
    conversation: Conversation
    exchange: Exchange | None = None
    asked: list[ApiOperation] = field(default_factory=list)
    replies: list[int | None] = field(default_factory=list)
    gone: bool = False

    def run(self) -> _Exchanged:
        observed = tuple(self.exchange.observed) if self.exchange is not None else ()
        return _Exchanged(self.conversation, observed, tuple(self.replies))


class _ApiMachine(RuleBasedStateMachine):
    """Connections opened to the document's endpoints, requests of any of its operations sent
    on any of them in any order, connections closed; every reply is there, on its channel,
    correlated and valid, and no client receives what no operation of its own explains."""

    clients = Bundle("clients")

    def __init__(self, ctx: Context, api: ApiSpec, budget: Budget, bridge: LoopBridge) -> None:
        super().__init__()
        self.ctx, self.api, self.budget, self.bridge = ctx, api, budget, bridge
        self.live: list[_Client] = []
        self.trace: list[str] = []
        budget.calls += 1
        self.idle = budget.spent()  # out of shrinking time: the smallest failure stands

    def _do(self, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self.idle:
            return
        try:
            self.bridge.run(step())
        except PropertyFailed as failure:
            failure.steps = tuple(self.trace)
            self.budget.failed(repr(self.trace), failure)
            raise

    @rule(target=clients, endpoint=st.integers(0, 1000))
    def connect(self, endpoint: int) -> _Client:
        # Only endpoints with a request/reply operation (an integer drawn, then taken modulo,
        # so that the draw shrinks toward the first).
        endpoints = sorted({op.endpoint for op in self.api.requests()})
        chosen = endpoints[endpoint % len(endpoints)]
        client = _Client(f"client {len(self.live) + 1}", chosen,
                         _conversation(self.api.endpoints[chosen], []))
        self.live.append(client)

        async def step() -> None:
            client.exchange = await Exchange.open(self.ctx.driver, client.conversation)
            self.trace.append(f"{client.name}: connect {client.conversation.path}")
            if client.exchange.observed[:1] != [Accepted()]:
                client.gone = True
                raise PropertyFailed(f"{client.name} was refused: "
                                     f"{describe(client.exchange.observed[0])}",
                                     client.run().observation())

        self._do(step)
        return client

    @rule(client=clients, data=st.data())
    def request(self, client: _Client, data: st.DataObject) -> None:
        ops = [op for op in self.api.requests() if op.endpoint == client.endpoint]
        op = data.draw(st.sampled_from(ops))
        text = data.draw(_request_payloads(op))

        async def step() -> None:
            ex = client.exchange
            if client.gone or ex is None or not ex.listening:
                return
            self.trace.append(f"{client.name}: {op.id}: {describe(SendText(text))}")
            client.conversation = dataclasses.replace(
                client.conversation, actions=(*client.conversation.actions, SendText(text)))
            client.asked.append(op)
            await ex.connection.send_text(text)
            found = None
            for _ in range(MAX_SKIPPED):
                if not await ex.read(1):
                    break
                reading = _message_of(ex.observed[-1])
                if reading is not None and send_operation(
                        self.api, client.endpoint, reading, unless=op) is None:
                    found = len(ex.observed) - 1
                    break
            client.replies.append(found)
            run = client.run()
            alone = _Exchanged(run.conversation, run.observed, (found,))
            for judge in (_reply_problem(self.api, op, alone, [text]),
                          _schema_problem(self.api, op, alone)):
                if judge is not None:
                    problem = judge[0].replace(
                        "request 1", f"{client.name}'s request {len(client.asked)}")
                    raise PropertyFailed(f"{op.id}: {problem}",
                                         run.observation(judge[1], _labels(op)))

        self._do(step)

    @rule(client=clients)
    def close(self, client: _Client) -> None:
        async def step() -> None:
            if client.gone or client.exchange is None:
                return
            await self._listen(client)
            client.gone = True
            self.trace.append(f"{client.name}: closes")
            await client.exchange.connection.close()

        self._do(step)

    async def _listen(self, client: _Client) -> None:
        """What else the client received must be explained by its own requests' replies or
        by the server's own messages: anything else came from nowhere, or was another
        client's."""
        ex = client.exchange
        if ex is None:
            return
        if ex.listening:
            await ex.drain()
        answers = {i for i in client.replies if i is not None}
        for at, event in enumerate(ex.observed):
            reading = _message_of(event)
            if reading is None or at in answers:
                continue
            if any(belongs(m, reading) for op in client.asked for m in op.replies or ()):
                continue
            if send_operation(self.api, client.endpoint, reading) is not None:
                continue
            raise PropertyFailed(f"{client.name} received a message that neither a reply to "
                                 "its own requests nor a send operation explains",
                                 client.run().observation(at, "nothing"))

    def teardown(self) -> None:
        async def finish() -> None:
            try:
                for client in self.live:
                    if not client.gone:
                        await self._listen(client)
            finally:
                for client in self.live:
                    if not client.gone and client.exchange is not None:
                        client.gone = True
                        await client.exchange.connection.close()

        self._do(finish)


def _stateful_check(api: ApiSpec) -> Check:
    """The state machine over the document's request/reply operations."""

    async def stateful(ctx: Context) -> Verdict:
        for op in api.requests():
            _request_payloads(op)  # a schema nothing satisfies: inconclusive, before any run
        await _exchange(ctx, api, None, api.requests()[0].endpoint, [])  # a client is let in
        budget = Budget.for_driver(ctx.driver.kind)
        bridge = LoopBridge(asyncio.get_running_loop(), example_bound(ctx.driver.timeout))

        def machine() -> _ApiMachine:
            return _ApiMachine(ctx, api, budget, bridge)

        return await run_machine(ctx, machine, budget, max_examples=max(10, ctx.examples // 2),
                                 stateful_step_count=STATEFUL_STEPS)

    return Check("asyncapi.stateful", "MUST", "every request/reply operation",
                 "a state machine over several connections (connect, a request of any "
                 "operation, close, in any order): every reply there, on its channel, "
                 "correlated and valid, and no client receives what its own requests and the "
                 "server's own messages do not explain", frozenset(), stateful,
                 "the endpoints accept connections")


@SUITE.family("asyncapi")
def api_checks(spec: Spec) -> list[Check]:
    """The checks an AsyncAPI document calls for (none for a chat protocol)."""
    api = spec.api
    if api is None:
        return []
    checks: list[Check] = []
    for op in api.operations:
        if op.action == "receive" and op.replies is not None:
            checks += _request_checks(api, op)
        elif op in api.sends(op.endpoint):
            checks.append(_send_check(api, op))
    if api.requests():
        checks.append(_stateful_check(api))
    return checks

