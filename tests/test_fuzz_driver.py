"""Fuzzing the in-process driver: a chaos ASGI app against random client actions.

Hypothesis draws a script for the app (receive; accept, send text or bytes, close with or
without code and reason; invalid messages of every kind; yield or sleep a little; raise;
return) and a list of client actions (send, receive, quiet, close, drop, finish). Each run is
bounded by ``asyncio.wait_for``. Whatever the two sides do, the driver must:

* never hang (the bound) and never raise out of its own methods;
* report only well-formed events (right types, close codes a close frame can carry);
* keep returning the final event once the connection ended;
* turn every invalid ASGI message into a refusal raised into the app (a protocol violation,
  or the disconnect error once the client left) and a ``ProtocolViolation`` in the
  transcript — never a crash of its own surfacing as the app's exception;
* report as ``AppCrashed`` only what the app itself raised;
* leave no task running after ``aclose`` and no unretrieved exception in the loop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wscheck.core.events import (
    FINAL_EVENTS,
    Accepted,
    AppCrashed,
    AppExited,
    Binary,
    Closed,
    Event,
    ProtocolViolation,
    Refused,
    Silence,
    Text,
    TransportError,
)
from wscheck.drivers._mute import TargetStoppedAnswering
from wscheck.drivers.asgi import AsgiDriver, ClientDisconnected

#: Bound on one whole run (app script and client actions); a healthy run takes milliseconds.
RUN_BOUND = 5.0
DRIVER_TIMEOUT = 0.05
QUIET_WINDOW = 0.01


class ChaosError(Exception):
    """What the chaos app raises on purpose; the only exception an ``AppCrashed`` may name
    besides the driver's own disconnect error that the app let through."""


# --- the app's script ------------------------------------------------------------------------

#: Messages the ASGI spec forbids, by name (each must be refused by the driver).
INVALID: dict[str, Any] = {
    "unknown-type": {"type": "websocket.unknown"},
    "no-type": {"text": "where am I going"},
    "type-not-a-string": {"type": 42},
    "not-a-dict-none": None,
    "not-a-dict-str": "websocket.accept",
    "not-a-dict-list": ["websocket.send", "text"],
    "send-text-and-bytes": {"type": "websocket.send", "text": "a", "bytes": b"b"},
    "send-neither": {"type": "websocket.send"},
    "send-text-not-str": {"type": "websocket.send", "text": 123},
    "send-bytes-not-bytes": {"type": "websocket.send", "bytes": "not bytes"},
    "close-code-str": {"type": "websocket.close", "code": "1000"},
    "close-code-bool": {"type": "websocket.close", "code": True},
    "close-code-float": {"type": "websocket.close", "code": 1000.0},
    "close-code-out-of-range": {"type": "websocket.close", "code": 70000},
    "close-code-negative": {"type": "websocket.close", "code": -1},
    "response-status-not-int": {"type": "websocket.http.response.start", "status": "x"},
    "response-body-first": {"type": "websocket.http.response.body", "body": b"x"},
}

Step = tuple[Any, ...]

texts = st.text(max_size=8)
close_codes = st.sampled_from([1000, 1001, 1003, 1008, 1011, 3000, 4999])
steps: st.SearchStrategy[Step] = st.one_of(
    st.just(("receive",)),
    st.just(("accept",)),
    st.tuples(st.just("text"), texts),
    st.tuples(st.just("bytes"), st.binary(max_size=8)),
    st.tuples(st.just("close"), st.none() | close_codes, st.none() | texts),
    st.tuples(st.just("invalid"), st.sampled_from(sorted(INVALID))),
    st.just(("sleep", 0.0)),
    st.tuples(st.just("sleep"), st.sampled_from([0.001, 0.005, 0.02, 0.06])),
    st.just(("raise",)),
    st.just(("return",)),
)


@dataclass
class AppLog:
    """What the chaos app saw: the exception each invalid message got back."""

    invalid_results: list[tuple[str, BaseException | None]] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    #: Set by the client side just before it closes or drops (the driver takes note at once).
    client_left: bool = False
    #: Invalid closes sent after the client left: closing a connection the client already
    #: left is a no-op, whatever the message says (there is nobody to tell).
    ignorable: set[int] = field(default_factory=set)


def chaos_app(script: list[Step], swallow: bool, log: AppLog) -> Any:
    """An app that plays ``script``; with ``swallow`` it ignores what send/receive raise (a
    sloppy app), otherwise the first such exception ends it."""

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        for i, step in enumerate(script):
            kind = step[0]
            if kind == "raise":
                log.raised.append(f"ChaosError: step {i}")
                raise ChaosError(f"step {i}")
            if kind == "return":
                return
            if kind == "sleep":
                await asyncio.sleep(step[1])
                continue
            try:
                if kind == "receive":
                    await receive()
                elif kind == "accept":
                    await send({"type": "websocket.accept"})
                elif kind == "text":
                    await send({"type": "websocket.send", "text": step[1]})
                elif kind == "bytes":
                    await send({"type": "websocket.send", "bytes": step[1]})
                elif kind == "close":
                    message: dict[str, Any] = {"type": "websocket.close"}
                    if step[1] is not None:
                        message["code"] = step[1]
                    if step[2] is not None:
                        message["reason"] = step[2]
                    await send(message)
                elif kind == "invalid":
                    if log.client_left and step[1].startswith("close-"):
                        log.ignorable.add(len(log.invalid_results))
                    try:
                        await send(INVALID[step[1]])
                    except Exception as exc:
                        log.invalid_results.append((step[1], exc))
                        raise
                    log.invalid_results.append((step[1], None))
            except Exception:
                if not swallow:
                    raise

    return app


# --- the client's actions --------------------------------------------------------------------

Action = tuple[Any, ...]
actions: st.SearchStrategy[Action] = st.one_of(
    st.tuples(st.just("send_text"), texts),
    st.tuples(st.just("send_bytes"), st.binary(max_size=8)),
    st.tuples(st.just("receive"), st.sampled_from([None, 0.0, 0.01])),
    st.tuples(st.just("quiet"), st.sampled_from([None, 0.0, 0.01])),
    st.tuples(st.just("close"), st.sampled_from([1000, 1001, 4000])),
    st.just(("drop",)),
    st.just(("finish",)),
)


# --- the oracle --------------------------------------------------------------------------------


def _valid_code(code: object) -> bool:
    """A code a close frame can carry (RFC 6455 §7.4: 1000-4999)."""
    return type(code) is int and 1000 <= code <= 4999


def check_event(event: object) -> None:
    """``event`` is one of the kit's events, with fields of the declared types."""
    assert isinstance(event, (Accepted, Text, Binary, Closed, Refused, Silence, AppCrashed,
                              AppExited, ProtocolViolation, TransportError)), event
    if isinstance(event, Text):
        assert type(event.text) is str, event
    elif isinstance(event, Binary):
        assert type(event.data) is bytes, event
    elif isinstance(event, Closed):
        assert _valid_code(event.code), f"close code no close frame can carry: {event!r}"
        assert type(event.reason) is str, event
    elif isinstance(event, Refused):
        assert event.status is None or type(event.status) is int, event
        assert event.close_code is None or _valid_code(event.close_code), event
    elif isinstance(event, Silence):
        assert isinstance(event.seconds, float | int) and math.isfinite(event.seconds), event
    elif isinstance(event, AppCrashed | ProtocolViolation | TransportError):
        text = getattr(event, "exception", None) or getattr(event, "problem", None)
        assert isinstance(text, str) and text, event


@dataclass
class Run:
    handshake: Event
    events: list[Event]
    aftermath: list[Event | None]
    #: The mute watch stopped the run (see play_connection).
    stopped: bool = False


Conversation = tuple[list[Step], bool, list[Action]]


class _Reader:
    """What the client has read so far: every event, and the final one once it came."""

    def __init__(self, conn: Any, run: Run) -> None:
        self.conn = conn
        self.run = run
        self.final: Event | None = (conn.handshake if isinstance(conn.handshake, FINAL_EVENTS)
                                    else None)

    async def receive(self, timeout: float | None) -> None:
        event = await self.conn.receive(timeout)
        if self.final is not None:
            assert event == self.final, (
                f"after the final {self.final!r}, receive() gave {event!r}")
        elif isinstance(event, FINAL_EVENTS):
            self.final = event
        self.run.events.append(event)

    async def quiet(self, window: float | None) -> None:
        event = await self.conn.quiet(window)
        if event is not None:
            self.run.events.append(event)
            if self.final is None and isinstance(event, FINAL_EVENTS):
                self.final = event


async def play_connection(driver: AsgiDriver, index: int, client: list[Action],
                          log: AppLog) -> Run:
    """Connect to app ``index`` and do ``client``, then read what is left and leave."""
    conn = await driver.connect(f"/chaos/{index}", (("q", "1"),), (("session", "s"),))
    run = Run(conn.handshake, [], [])
    reader = _Reader(conn, run)
    try:
        await _act(conn, client, reader, run, log)
        # Read what is left (bounded).
        for _ in range(20):
            await reader.receive(None)
            if reader.final is not None or isinstance(run.events[-1], Silence):
                break
    except TargetStoppedAnswering:
        # Three waits in a row for something the app owed, each out in full (a loaded
        # machine can outlast the 0.05 s timeout before the app is known idle): the
        # driver's designed answer to an app that says nothing, which ends the run there.
        run.stopped = True
    # Leave, and collect what happened on the way out.
    log.client_left = True
    await conn.close()
    run.aftermath.append(await conn.finish())
    return run


async def _act(conn: Any, client: list[Action], reader: _Reader, run: Run,
               log: AppLog) -> None:
    """Do what the client's script says."""
    for action in client:
        kind = action[0]
        if kind == "send_text":
            await conn.send_text(action[1])
        elif kind == "send_bytes":
            await conn.send_bytes(action[1])
        elif kind == "receive":
            await reader.receive(action[1])
        elif kind == "quiet":
            await reader.quiet(action[1])
        elif kind == "close":
            log.client_left = True
            await conn.close(action[1])
        elif kind == "drop":
            log.client_left = True
            await conn.drop()
        elif kind == "finish":
            run.aftermath.append(await conn.finish())


async def play(conversations: list[Conversation], logs: list[AppLog]) -> list[Run]:
    """Run every conversation at once on one driver (each with its own chaos app)."""
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    apps = [chaos_app(script, swallow, log)
            for (script, swallow, _), log in zip(conversations, logs)]

    async def dispatch(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await apps[int(scope["path"].rsplit("/", 1)[1])](scope, receive, send)

    driver = AsgiDriver(dispatch, timeout=DRIVER_TIMEOUT, quiet_window=QUIET_WINDOW)
    try:
        runs = await asyncio.gather(*(
            play_connection(driver, i, client, log)
            for i, ((_, _, client), log) in enumerate(zip(conversations, logs))))
    finally:
        await driver.aclose()
    assert all(t.done() for t in driver._tasks), "aclose left app tasks running"
    # Let finished tasks be collected, so an unretrieved exception would be reported now.
    await asyncio.sleep(0)
    assert loop_errors == [], loop_errors
    return list(runs)


def check_run(run: Run, log: AppLog) -> None:
    everything: list[Event] = [run.handshake, *run.events,
                               *(e for e in run.aftermath if e is not None)]
    for event in everything:
        check_event(event)
    assert isinstance(run.handshake, (Accepted, Silence, *FINAL_EVENTS)), run.handshake
    for event in everything:
        if isinstance(event, AppCrashed):
            assert event.exception in log.raised or event.exception.startswith(
                "ClientDisconnected:"), f"the driver's own error surfaced as the app's: {event}"
    for i, (name, exc) in enumerate(log.invalid_results):
        if exc is None and i in log.ignorable:
            continue
        assert exc is not None, f"the invalid message {name!r} was accepted silently"
        assert isinstance(exc, ClientDisconnected) or "ASGI protocol violation" in str(exc), (
            f"the invalid message {name!r} got {type(exc).__name__}: {exc} back instead of "
            "a protocol violation")
    if any(exc is not None and not isinstance(exc, ClientDisconnected)
           for _, exc in log.invalid_results):
        assert any(isinstance(e, ProtocolViolation) for e in everything), (
            "a protocol violation was raised into the app but never reported")


def run_bounded(*conversations: Conversation) -> list[tuple[Run, AppLog]]:
    logs = [AppLog() for _ in conversations]

    async def bounded() -> list[Run]:
        return await asyncio.wait_for(play(list(conversations), logs), RUN_BOUND)

    try:
        runs = asyncio.run(bounded())
    except TimeoutError:
        pytest.fail(f"the driver hung: no end within {RUN_BOUND:g}s")
    return list(zip(runs, logs))


conversations = st.tuples(st.lists(steps, max_size=12), st.booleans(),
                          st.lists(actions, max_size=10))

FUZZ = settings(max_examples=250, deadline=None, database=None, report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(conversation=conversations)
def test_driver_survives_any_app_and_client(conversation: Conversation) -> None:
    for run, log in run_bounded(conversation):
        check_run(run, log)


@FUZZ
@given(several=st.lists(conversations, min_size=2, max_size=4))
def test_driver_survives_concurrent_chaos(several: list[Conversation]) -> None:
    """Several chaos connections at once on one loop: a wait on one must not be cut short,
    or prolonged, by what another does."""
    for run, log in run_bounded(*several):
        check_run(run, log)


# Each invalid message alone, right after the accept, so that every one is certainly tried
# (the fuzzer above draws them among everything else).


@pytest.mark.parametrize("name", sorted(INVALID))
def test_every_invalid_message_is_a_protocol_violation(name: str) -> None:
    script: list[Step] = [("receive",), ("accept",), ("invalid", name), ("receive",)]
    [(run, log)] = run_bounded((script, False, [("send_text", "hi"), ("receive", None)]))
    check_run(run, log)
    assert log.invalid_results and log.invalid_results[0][0] == name
    assert any(isinstance(e, ProtocolViolation) for e in [run.handshake, *run.events])


@pytest.mark.parametrize("name", sorted(INVALID))
def test_every_invalid_message_before_accept_is_a_protocol_violation(name: str) -> None:
    script: list[Step] = [("receive",), ("invalid", name), ("accept",), ("receive",)]
    [(run, log)] = run_bounded((script, True, [("send_text", "hi"), ("receive", None)]))
    check_run(run, log)
    assert isinstance(run.handshake, ProtocolViolation), run.handshake
