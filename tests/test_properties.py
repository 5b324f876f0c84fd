"""The property checks earn their keep: defects that hand-picked cases can miss are caught,
and shrunk to the smallest conversation that shows them.

Each mutant below is the reference app with one defect in its echo endpoint. The assertions
name the minimal example Hypothesis is expected to shrink to, so a regression in the
strategies or in the shrink budget shows up as a changed example, not just a pass/fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_app import create_app
from tests.apps import ticking
from wscheck.core.events import ClientClose, Drop, Event, SendText, Silence
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver, lifespan
from wscheck.drivers.base import Connection, Driver
from wscheck.generation.runner import SHRINK_SECONDS
from wscheck.generation.strategies import (
    auth_conversations,
    echo_conversations,
    messages,
    q_values,
)
from wscheck.model.echo import expected
from wscheck.run.conversation import run_conversation
from wscheck.run.registry import SUITE, Context, Verdict

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")

SUITE.all()  # registers every check


@pytest.fixture(autouse=True)
def _derandomized(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in CI: the wscheck-ci profile (derandomized, no example database), so one test's
    saved failure is never replayed against another test's app."""
    monkeypatch.setenv("CI", "true")


Reply = Callable[[str, list[str]], "str | None"]
IsBye = Callable[[str, list[str]], bool]


def echo_mutant(
    reply: Reply = lambda m, before: PREFIX + m,
    is_bye: IsBye = lambda m, before: m == "bye",
) -> FastAPI:
    """The reference app with its echo endpoint replaced by one with a single defect.

    ``reply`` and ``is_bye`` get the message and the messages this connection sent before it.
    """
    app = create_app()
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/ws"]

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        before: list[str] = []
        try:
            while True:
                message = await websocket.receive_text()
                if is_bye(message, before):
                    for farewell in FAREWELLS:
                        await websocket.send_text(farewell)
                    await websocket.close(1000)
                    return
                text = reply(message, before)
                before.append(message)
                if text is not None:
                    await websocket.send_text(text)
        except WebSocketDisconnect:
            pass

    return app


def misrouting() -> FastAPI:
    """Replies go to the most recently connected client; bye is handled correctly."""
    app = create_app()
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/ws"]
    latest: list[WebSocket] = []

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        latest.append(websocket)
        try:
            while True:
                message = await websocket.receive_text()
                if message == "bye":
                    for farewell in FAREWELLS:
                        await websocket.send_text(farewell)
                    await websocket.close(1000)
                    return
                await latest[-1].send_text(PREFIX + message)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            latest.remove(websocket)

    return app


def run_check(app: FastAPI, check_id: str, examples: int = 100) -> Verdict:
    async def main() -> Verdict:
        async with lifespan(app) as wrapped:
            driver = AsgiDriver(wrapped, timeout=1.0)
            try:
                return await SUITE[check_id].run(Context(Spec(), driver, examples))
            finally:
                await driver.aclose()

    return asyncio.run(main())


def sent(verdict: Verdict) -> list[str]:
    assert verdict.observation is not None
    return [a.text for a in verdict.observation.conversation.actions if isinstance(a, SendText)]


MUTANTS: list[tuple[str, Callable[[], FastAPI], str, Callable[[list[str]], bool], str]] = [
    # (name, app, check, predicate on the shrunk messages, what the minimal example is)
    ("whitespace stripped", lambda: echo_mutant(lambda m, b: PREFIX + m.strip()),
     "prop.echo", lambda ms: ms == [" "], "the single message ' '"),
    ("long messages truncated", lambda: echo_mutant(lambda m, b: PREFIX + m[:4096]),
     "prop.echo", lambda ms: len(ms) == 1 and len(ms[0].encode()) == 48 * 1024,
     "one message of exactly 48 KiB, the shortest long message generated"),
    ("non-ASCII mangled",
     lambda: echo_mutant(lambda m, b: PREFIX + m.encode("ascii", "replace").decode()),
     "prop.echo", lambda ms: len(ms) == 1 and len(ms[0]) == 1 and ord(ms[0]) > 127,
     "one non-ASCII character"),
    ("newlines dropped",
     lambda: echo_mutant(lambda m, b: PREFIX + m.replace("\n", "").replace("\r", "")),
     "prop.echo", lambda ms: ms in (["\n"], ["\r\n"], ["\r"]), "a lone newline"),
    ("replies stop after 3 messages",
     lambda: echo_mutant(lambda m, b: PREFIX + m if len(b) < 3 else None),
     "prop.conversation", lambda ms: ms == ["", "", "", ""], "four empty messages"),
    ("replies shifted by one",
     lambda: echo_mutant(lambda m, b: PREFIX + b[-1] if b else None),
     "prop.conversation", lambda ms: ms == [""], "one empty message"),
    ("bye matched case-insensitively",
     lambda: echo_mutant(is_bye=lambda m, b: m.lower() == "bye"),
     "prop.echo", lambda ms: len(ms) == 1 and ms[0].lower() == "bye" and ms[0] != "bye",
     "one case variant of bye"),
    ("bye matched after strip",
     lambda: echo_mutant(is_bye=lambda m, b: m.strip() == "bye"),
     "prop.echo", lambda ms: len(ms) == 1 and ms[0].strip() == "bye" and ms[0] != "bye",
     "one bye with surrounding whitespace"),
    ("bye only as the first message",
     lambda: echo_mutant(is_bye=lambda m, b: m == "bye" and not b),
     "prop.conversation", lambda ms: ms == ["", "bye"], "an empty message, then bye"),
    ("crash on the empty message",
     lambda: echo_mutant(lambda m, b: PREFIX + m if m else str(1 / len(m))),
     "prop.echo", lambda ms: ms == [""], "the empty message"),
    ("replies sent to another connection", misrouting,
     "prop.concurrent", lambda ms: ms in (["«c0»"], ["«c1»"]),
     "one client's single empty message (its tag alone)"),
]


@pytest.mark.parametrize(("name", "make", "check_id", "minimal", "described"), MUTANTS,
                         ids=[m[0] for m in MUTANTS])
def test_property_catches_and_shrinks(
    name: str, make: Callable[[], FastAPI], check_id: str,
    minimal: Callable[[list[str]], bool], described: str,
) -> None:
    verdict = run_check(make(), check_id)
    assert not verdict.passed, f"{check_id} missed the defect: {name}"
    shrunk = sent(verdict)
    assert minimal(shrunk), (
        f"{name}: expected {check_id} to shrink to {described}, got {shrunk!r}")


def test_stateful_machine_catches_misrouting() -> None:
    verdict = run_check(misrouting(), "prop.stateful")
    assert not verdict.passed
    assert verdict.problem is not None
    assert verdict.problem.endswith("of the state machine diverged from the model")
    steps = next(n for n in verdict.notes if n.startswith("the minimal sequence of steps"))
    # Two clients are the least that can show misrouting.
    assert "client 2: connect /ws" in steps, steps


def test_every_property_passes_on_the_reference_app() -> None:
    for check in SUITE.all():
        if check.id.startswith("prop.") and not check.not_applicable(Spec()):
            verdict = run_check(create_app(), check.id)
            assert verdict.passed, (check.id, verdict.problem, verdict.observation)


class _CountingConnection:
    """A connection that reports every wait that ran out its full timeout to its driver."""

    def __init__(self, connection: Connection, driver: CountingDriver) -> None:
        self._connection = connection
        self._driver = driver

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def _count(self, event: Event | None) -> None:
        if isinstance(event, Silence) and event.seconds > 0:
            self._driver.timeouts += 1

    async def receive(self, timeout: float | None = None) -> Event:
        event = await self._connection.receive(timeout)
        self._count(event)
        return event

    async def finish(self, timeout: float | None = None) -> Event | None:
        event = await self._connection.finish(timeout)
        self._count(event)
        return event


class CountingDriver:
    """Delegates to a driver and counts the timeouts waited out in full.

    A stalling app costs one timeout per replay, so the number of timeouts a failing property
    run waits is what the shrink budget bounds. Unlike the run's wall time, that count does
    not grow when the machine is loaded (a loaded machine only fits fewer replays into the
    budget), so a test can bound it tightly.
    """

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self.kind = driver.kind
        self.target = driver.target
        self.timeout = driver.timeout
        self.timeouts = 0

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = (), *,
                      origin: bool = False) -> Connection:
        connection = await self._driver.connect(path, query, cookies, origin=origin)
        return _CountingConnection(connection, self)  # type: ignore[return-value]

    async def aclose(self) -> None:
        await self._driver.aclose()


def timeout_bound(kind: str, timeout: float, concurrency: int) -> int:
    """Timeouts a failing run may wait: one for the first failure, as many as fit in the
    shrink budget, one the budget overruns by, and one of slack; with a concurrency, first
    one for each example of the overlapping run still in flight when it strayed (at most
    ``concurrency``, all waited at the same time)."""
    overlapping = concurrency if concurrency > 1 else 0
    return overlapping + 1 + int(SHRINK_SECONDS[kind] / timeout) + 1 + 1


#: Wall-time bound on a failing property run whose timeouts the tests bound by count: only
#: "it ends", with room for a machine running two other CPU-bound processes (a quiet run takes
#: 3-5 s). How fast it ends is measured by ``benchmarks/stalling.py``.
STALL_WALL_BOUND = 60.0


@pytest.mark.parametrize("concurrency", [1, 8], ids=["one-after-another", "overlapping"])
def test_a_stalling_app_fails_quickly_despite_shrinking(monkeypatch: pytest.MonkeyPatch,
                                                        concurrency: int) -> None:
    """A defect that costs a full timeout per replay must not multiply into a long run: the
    shrink budget ends it after a handful of timeouts.

    The app goes silent after two replies while a background task keeps a timer due
    before every deadline (``tests.apps.ticking``), so the in-process driver cannot know the
    silence and waits out every timeout, as a network client would. The budget is the
    network's 1 s here: with the in-process 3 s, this defect's whole shrink (8 timeouts,
    ``benchmarks/stalling.py``) fits in it, and the bound would not tell a budget from none.
    """
    monkeypatch.setitem(SHRINK_SECONDS, "asgi", 1.0)
    app = echo_mutant(lambda m, b: PREFIX + m if len(b) < 2 else None)

    async def main() -> tuple[Verdict, CountingDriver, float]:
        sleeper = asyncio.get_running_loop().create_task(ticking())
        async with lifespan(app) as wrapped:
            driver = CountingDriver(AsgiDriver(wrapped, timeout=0.5))
            start = time.monotonic()
            verdict = await SUITE["prop.conversation"].run(
                Context(Spec(), driver, 100, concurrency))
            elapsed = time.monotonic() - start
            sleeper.cancel()
            await driver.aclose()
            return verdict, driver, elapsed

    verdict, driver, elapsed = asyncio.run(main())
    assert not verdict.passed
    assert verdict.observation is not None
    # Bounded shrinking may stop short of the minimum, but what it reports is a real failure:
    # a third message met with silence.
    assert len(sent(verdict)) >= 3, sent(verdict)
    assert any(isinstance(e, Silence) for e in verdict.observation.observed)
    assert 1 <= driver.timeouts <= timeout_bound("asgi", 0.5, concurrency), driver.timeouts
    assert elapsed < STALL_WALL_BOUND, f"the failing property run took {elapsed:.1f}s"


# --- the model and the reference app are two readings of one brief -------------------------


async def _reference_transcript(conversation: object) -> object:
    async with lifespan(create_app()) as wrapped:
        driver = AsgiDriver(wrapped, timeout=1.0)
        obs = await run_conversation(driver, Spec(), conversation)  # type: ignore[arg-type]
        await driver.aclose()
        return obs


@settings(max_examples=300, deadline=None)
@given(st.one_of(echo_conversations(Spec()), auth_conversations(Spec())))
def test_reference_app_and_model_agree(conversation: object) -> None:
    obs = asyncio.run(_reference_transcript(conversation))
    assert obs.observed == expected(Spec(), conversation)  # type: ignore[attr-defined, arg-type]


# --- the strategies generate what they promise -----------------------------------------------


@settings(max_examples=300, deadline=None)
@given(messages())
def test_messages_are_sendable_and_never_the_bye_word(message: str) -> None:
    assert message != "bye"
    message.encode("utf-8")  # no lone surrogates: a WebSocket text frame can carry it


@settings(max_examples=200, deadline=None)
@given(q_values())
def test_q_values_are_only_the_specified_kinds(q: str) -> None:
    from wscheck.model.echo import q_is_checked

    assert q_is_checked(q)


@settings(max_examples=200, deadline=None)
@given(echo_conversations(Spec()))
def test_conversations_end_in_every_way(conversation: object) -> None:
    actions = conversation.actions  # type: ignore[attr-defined]
    assert all(isinstance(a, (SendText, ClientClose, Drop)) for a in actions)


def test_edge_weighting_reaches_the_edges() -> None:
    seen: set[str] = set()

    @settings(max_examples=500, deadline=None, database=None)
    @given(messages())
    def collect(message: str) -> None:
        seen.add(message)

    collect()
    for edge in ("", " ", "\n", "\r\n", "\x00"):
        assert edge in seen, f"the message strategy never produced {edge!r}"
    assert any(len(m.encode()) >= 48 * 1024 for m in seen), "no long message in 500 draws"
    assert all(len(m.encode()) <= 64 * 1024 for m in seen), "a message over 64 KiB was drawn"
    assert any(m.lower() == "bye" and m != "bye" for m in seen) or any(
        m.strip() == "bye" and m != "bye" for m in seen), "no near-miss of the bye word"


@pytest.mark.parametrize("concurrency", [1, 8], ids=["one-after-another", "overlapping"])
def test_a_stalling_server_fails_quickly_over_the_network(concurrency: int) -> None:
    """The same bound over a real socket, where every silence costs the full timeout."""
    from tests.servers import serve_uvicorn
    from wscheck.drivers.url import UrlDriver

    app = echo_mutant(lambda m, b: PREFIX + m if len(b) < 2 else None)

    async def main(address: str) -> tuple[Verdict, CountingDriver, float]:
        driver = CountingDriver(UrlDriver(f"ws://{address}", timeout=0.5, quiet_window=0.1))
        try:
            start = time.monotonic()
            verdict = await SUITE["prop.conversation"].run(
                Context(Spec(), driver, 25, concurrency))
            return verdict, driver, time.monotonic() - start
        finally:
            await driver.aclose()

    with serve_uvicorn(app) as address:
        verdict, driver, elapsed = asyncio.run(main(address))
    assert not verdict.passed
    assert len(sent(verdict)) >= 3, sent(verdict)
    assert 1 <= driver.timeouts <= timeout_bound("url", 0.5, concurrency), driver.timeouts
    assert elapsed < STALL_WALL_BOUND, f"the failing run took {elapsed:.1f}s over the network"


# --- prop.stateful over a network: the final windows listen on beside the next examples ---


class _LateExtra:
    """Echoes like the reference app, and 50 ms after every echo sends one more text: a
    message that only a connection still listening after the example's last reply hears."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from reference_app import app as reference

        if scope["type"] != "websocket":
            await reference(scope, receive, send)
            return

        async def late_send(message: Any) -> None:
            await send(message)
            if message.get("type") == "websocket.send":
                async def later() -> None:
                    await asyncio.sleep(0.05)
                    with contextlib.suppress(Exception):
                        await send({"type": "websocket.send", "text": "late"})
                task = asyncio.ensure_future(later())
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)

        await reference(scope, receive, late_send)


@pytest.mark.slow  # a state machine over uvicorn, twice
@pytest.mark.parametrize("concurrency", [1, 8], ids=["one-after-another", "overlapping"])
def test_stateful_over_a_network_hears_a_late_message_either_way(concurrency: int) -> None:
    """The late text comes after the example's last reply, within its quiet window: heard
    whether the examples run one after another or overlapping (then the check runs again
    one step after another, and fails)."""
    from reference_app import app as reference
    from tests.servers import serve_uvicorn
    from wscheck.drivers.url import UrlDriver

    async def verdict(address: str) -> bool:
        driver = UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=0.2)
        try:
            result = await SUITE["prop.stateful"].run(
                Context(Spec(), driver, 10, concurrency))
            return result.passed
        finally:
            await driver.aclose()

    with serve_uvicorn(_LateExtra()) as address:
        assert not asyncio.run(verdict(address))
    with serve_uvicorn(reference) as address:
        assert asyncio.run(verdict(address))


# --- examples overlap; only a pass is taken from the overlapping run -------------------------


class _Peak:
    """The reference app, counting the WebSocket sessions open at once; with ``crowded`` set,
    a reply sent while another session is open is wrong (a defect only overlap shows)."""

    def __init__(self, crowded: bool = False) -> None:
        self.app = create_app()
        self.open = 0
        self.peak = 0
        self.crowded = crowded
        self.crowded_replies = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def maybe_wrong(message: Any) -> None:
            if self.crowded and self.open > 1 and message.get("type") == "websocket.send":
                self.crowded_replies += 1
                message = {**message, "text": "busy"}
            await send(message)

        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await self.app(scope, receive, maybe_wrong)
        finally:
            self.open -= 1


def _run_on(app: Any, check_id: str, concurrency: int, examples: int = 100) -> Verdict:
    async def main() -> Verdict:
        async with lifespan(app) as wrapped:
            driver = AsgiDriver(wrapped, timeout=1.0)
            try:
                return await SUITE[check_id].run(
                    Context(Spec(), driver, examples, concurrency))
            finally:
                await driver.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("check_id", ["prop.echo", "prop.conversation", "prop.auth"])
def test_examples_overlap_with_a_concurrency_and_not_without(check_id: str) -> None:
    """A property's examples run side by side (what makes an app slow to answer cheap to
    check), and one after another with a concurrency of 1."""
    overlapping, alone = _Peak(), _Peak()
    assert _run_on(overlapping, check_id, 8).passed
    assert _run_on(alone, check_id, 1).passed
    assert overlapping.peak > 1, overlapping.peak
    assert alone.peak == 1, alone.peak


@pytest.mark.parametrize("check_id", ["prop.echo", "prop.stateful"])
def test_a_property_confirmed_alone_skips_its_overlapping_pass(
        check_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run again alone by the schedule to confirm a verdict given beside other checks, a
    property runs its examples one after another at once: its overlapping pass would only
    meet again what made it stray there, and wait it out again."""
    import wscheck.checks.stateful
    import wscheck.generation.runner
    from wscheck.generation.bridge import Pipeline
    from wscheck.run.registry import CONFIRMING_ALONE

    made: list[Pipeline] = []

    class Counted(Pipeline):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    for module in (wscheck.generation.runner, wscheck.checks.stateful):
        monkeypatch.setattr(module, "Pipeline", Counted)
    assert _run_on(_Peak(), check_id, 8, examples=20).passed
    assert len(made) == 1  # on the schedule's first run: the overlapping pass
    made.clear()
    token = CONFIRMING_ALONE.set(True)
    try:
        assert _run_on(_Peak(), check_id, 8, examples=20).passed
    finally:
        CONFIRMING_ALONE.reset(token)
    assert not made


def test_a_failure_only_overlap_shows_is_judged_on_examples_run_alone() -> None:
    """An app that answers wrongly while another client is connected fails the overlapping
    run, and the property runs again one example after another: that run is the verdict
    (such an app is ``prop.concurrent``'s to fail, whose clients are interleaved on
    purpose), as for checks run side by side."""
    crowded = _Peak(crowded=True)
    verdict = _run_on(crowded, "prop.echo", 8)
    assert crowded.crowded_replies > 0  # the overlapping run did stray
    assert verdict.passed, (verdict.problem, verdict.observation)
    interleaved = _run_on(_Peak(crowded=True), "prop.concurrent", 8)
    assert not interleaved.passed and interleaved.problem is not None
    assert "got other replies than it gets alone" in interleaved.problem


@pytest.mark.parametrize("derandomized", [True, False], ids=["ci-profile", "random-profile"])
def test_the_run_alone_draws_the_examples_the_overlapping_run_drew(
        derandomized: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A failure met in the overlapping run is met again in the run alone, which draws the
    same examples in the same order (the same seed, under the random profile too), so it is
    never lost: here the failing example is whichever came 30th, a value another seed would
    not draw there."""
    from wscheck.generation.bridge import PropertyFailed
    from wscheck.generation.runner import run_property

    if not derandomized:
        monkeypatch.delenv("CI")
        # Both runs are seeded, so Hypothesis reads and keeps nothing in its example database.
    seen: list[str] = []

    async def evaluate(example: str) -> PropertyFailed | None:
        seen.append(example)  # when it runs: examples dropped after a stray never run
        return PropertyFailed("the 30th", None) \
            if len(seen) >= 30 and example == seen[29] else None

    class _Driver:
        kind = "asgi"
        timeout = 1.0

    async def main() -> Verdict:
        ctx = Context(Spec(), _Driver(), 100, 8)  # type: ignore[arg-type]
        return await run_property(ctx, "prop.test", st.text(min_size=8), evaluate)

    verdict = asyncio.run(main())
    assert not verdict.passed and verdict.problem == "the 30th"
    # The overlapping run started the 30th example and at most 7 more beside it before its
    # verdict came; then the run alone started again from the first example.
    again = [i for i in range(30, 39) if seen[i:i + 30] == seen[:30]]
    assert again, seen[:40]


def test_a_property_run_leaves_the_random_module_alone(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Any) -> None:
    """The seed both runs share is not drawn from the ``random`` module: properties run side
    by side, and Hypothesis warns (a deprecation, in the user's output) when the module's
    state changes while it draws an example."""
    import random

    from wscheck.generation.runner import run_property

    monkeypatch.delenv("CI")  # the random profile, which draws the seed
    monkeypatch.chdir(tmp_path)

    async def evaluate(example: int) -> None:
        return None

    class _Driver:
        kind = "asgi"
        timeout = 1.0

    async def main() -> Verdict:
        ctx = Context(Spec(), _Driver(), 10, 8)  # type: ignore[arg-type]
        return await run_property(ctx, "prop.test", st.integers(), evaluate)

    before = random.getstate()
    assert asyncio.run(main()).passed
    assert random.getstate() == before


# --- prop.stateful: examples recorded, run overlapping; only a pass is taken -----------------


class _FirstSessionsBusy:
    """The reference app, but every reply on ``sessions`` WebSocket sessions after the first
    ``after`` is ``busy``: a defect only the first run of a check meets (a stand-in for one
    only overlapping examples show). ``prop.stateful`` opens one session per endpoint first,
    to see that each serves a client at all."""

    def __init__(self, sessions: int, after: int = 2) -> None:
        self.app = create_app()
        self.first, self.last = after + 1, after + sessions
        self.seen = 0
        self.busy_replies = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.seen += 1
        busy = self.first <= self.seen <= self.last

        async def maybe_busy(message: Any) -> None:
            if busy and message.get("type") == "websocket.send":
                self.busy_replies += 1
                message = {**message, "text": "busy"}
            await send(message)

        await self.app(scope, receive, maybe_busy if busy else send)


def _stateful_runs(monkeypatch: pytest.MonkeyPatch) -> tuple[list[bool], list[list[str]]]:
    """([whether each prop.stateful run overlapped], [each run's message texts drawn])."""
    from wscheck.checks import stateful

    runs: list[bool] = []
    drawn: list[list[str]] = []
    real_post_init = stateful.Session.__post_init__

    def recording(self: stateful.Session) -> None:
        real_post_init(self)
        runs.append(self.pipeline is not None)
        texts: list[str] = []
        drawn.append(texts)
        self.messages = self.messages.map(lambda m: texts.append(m) or m)

    monkeypatch.setattr(stateful.Session, "__post_init__", recording)
    return runs, drawn


def _examples_in_flight(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """[recorded examples run, the most run at once]: counts the overlapping run's examples."""
    from wscheck.checks.stateful import ConnectionsMachine

    counts = [0, 0]
    running = [0]
    whole = ConnectionsMachine._example

    async def counted(self: ConnectionsMachine) -> Any:
        counts[0] += 1
        running[0] += 1
        counts[1] = max(counts[1], running[0])
        try:
            await asyncio.sleep(0.005)  # an app slow to answer: examples meet
            return await whole(self)
        finally:
            running[0] -= 1

    monkeypatch.setattr(ConnectionsMachine, "_example", counted)
    return counts


def test_stateful_examples_overlap_with_a_concurrency_and_not_without(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With a concurrency the state machine's examples are recorded as drawn and run side by
    side, at most that many at once; with a concurrency of 1 every step runs as it is drawn
    and nothing is recorded."""
    counts = _examples_in_flight(monkeypatch)
    assert _run_on(create_app(), "prop.stateful", 4).passed
    assert counts[0] >= 10 and 1 < counts[1] <= 4, counts
    counts[:] = [0, 0]
    assert _run_on(create_app(), "prop.stateful", 1).passed
    assert counts == [0, 0]


def test_stateful_pass_is_taken_only_when_every_overlapping_example_agreed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An app wrong on the first run's sessions only: that run strays, and the run one step
    after another, which meets the correct app, is the verdict. A wrong app fails either
    way, with the minimal steps from the run one step after another."""
    runs, _ = _stateful_runs(monkeypatch)
    first_only = _FirstSessionsBusy(sessions=3)
    verdict = _run_on(first_only, "prop.stateful", 8)
    assert first_only.busy_replies > 0 and runs == [True, False]  # the first run strayed
    assert verdict.passed, (verdict.problem, verdict.observation)
    runs.clear()
    verdict = _run_on(_FirstSessionsBusy(sessions=10**9), "prop.stateful", 8)
    assert runs == [True, False]
    assert not verdict.passed and verdict.problem is not None
    assert verdict.problem.endswith("of the state machine diverged from the model")
    assert any(n.startswith("the minimal sequence of steps") for n in verdict.notes)
    runs.clear()
    assert _run_on(create_app(), "prop.stateful", 8).passed and runs == [True]


def _files(directory: Any) -> set[str]:
    return {str(path.relative_to(directory)) for path in directory.rglob("*") if path.is_file()}


@pytest.mark.parametrize("case", ["ci-profile", "random-profile", "saved-example"])
def test_stateful_run_alone_draws_what_the_overlapping_run_drew(
        case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The run one step after another draws the overlapping run's examples, in order (the
    same seed under the random profile too): a failure the overlapping run met is met
    again. Every message text drawn is recorded; with the first run strayed at once, the
    second run's draws repeat the first's. Under the random profile both runs first replay
    what the example database holds (here, in one case, another app's failure, saved under
    the machine's key): only the run alone changes it."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    from wscheck.generation import runner

    examples = tmp_path / "examples"
    if case != "ci-profile":
        monkeypatch.delenv("CI")
        # A database of the test's own: Hypothesis's default one is under the directory the
        # process started in (a chdir does not move it), shared with every run of the kit.
        database = DirectoryBasedExampleDatabase(examples)
        random_profile = runner.profile
        monkeypatch.setattr(runner, "profile",
                            lambda: settings(random_profile(), database=database))
    if case == "saved-example":
        monkeypatch.setitem(runner.SHRINK_SECONDS, "asgi", 0.2)
        assert not _run_on(_FirstSessionsBusy(sessions=10**9), "prop.stateful", 1,
                           examples=30).passed
    saved = _files(examples) if examples.exists() else set()
    assert bool(saved) == (case == "saved-example")
    runs, drawn = _stateful_runs(monkeypatch)
    assert _run_on(_FirstSessionsBusy(sessions=1), "prop.stateful", 8, examples=30).passed
    assert runs == [True, False]
    first, second = drawn
    assert len(first) > 5 and first == second, (len(first), len(second), first[:3], second[:3])
    if saved:  # replayed by the run alone, which passed it and let it go
        assert _files(examples) != saved


def test_local_constants_hold_still_while_the_checks_run(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypothesis mixes constants from the source of local modules into examples and reads
    them again when a module is imported: held still, a module imported between a property's
    overlapping run and its run alone cannot change what the same seed draws."""
    from hypothesis.internal.conjecture import providers

    from wscheck.generation._compat import steady_constants, unsteady_constants

    word = "wsc-steady-7f3a"  # Hypothesis takes strings of up to 20 characters
    (tmp_path / "imported_meanwhile.py").write_text(f"WORD = {word!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "imported_meanwhile", raising=False)
    steady_constants()
    try:
        providers._get_local_constants()  # the first run's draws
        importlib.import_module("imported_meanwhile")
        assert word not in providers._get_local_constants().strings
    finally:
        unsteady_constants()
    assert word in providers._get_local_constants().strings  # Hypothesis's own function again


@pytest.mark.parametrize("check_id", ["prop.echo", "prop.stateful"])
def test_a_failure_says_it_was_saved_only_when_it_was(
        check_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A failure's note promises a replay from the example database exactly when Hypothesis
    kept the example there. Under the random profile a property's runs are seeded (both
    draw the same examples) and Hypothesis keeps nothing for a seeded run; prop.stateful's
    machine is not seeded, and its failure is kept."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    from tests.broken.wrong_prefix import app as wrong
    from wscheck.generation import runner

    monkeypatch.delenv("CI")
    database = DirectoryBasedExampleDatabase(tmp_path / "examples")
    random_profile = runner.profile
    monkeypatch.setattr(runner, "profile", lambda: settings(random_profile(), database=database))
    monkeypatch.setitem(runner.SHRINK_SECONDS, "asgi", 0.2)
    seeded = runner.shared_seed() is not None
    verdict = _run_on(wrong, check_id, 1, examples=30)
    assert verdict.problem is not None
    kept = any(path.is_file() for path in (tmp_path / "examples").rglob("*"))
    promised = any("saved it in its example database" in note for note in verdict.notes)
    assert kept == promised, (kept, promised)
    assert kept == (check_id == "prop.stateful" or not seeded)
