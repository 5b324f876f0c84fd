"""The layer below the checks: the stepping runner, the registry, the Hypothesis runner.

Each defect test here failed before its fix: connections opened for interleaved clients
leaked when one connect failed; a conversation abandoned midway (an example out of time) kept
its connection open; an example that outlived its bound was never cancelled and its time did
not count against the shrink budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from hypothesis import strategies as st

from tests import apps
from wscheck.core.events import (
    Accepted,
    Closed,
    Conversation,
    Event,
    ProtocolViolation,
    Silence,
    Text,
)
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver
from wscheck.errors import TargetUnreachable
from wscheck.generation.bridge import PropertyFailed
from wscheck.generation.runner import run_property
from wscheck.run.conversation import Exchange, Observation, interleave, run_conversation
from wscheck.run.registry import Check, Context, Registry, Verdict

PREFIX = "接收到的消息是:"


class _FakeConnection:
    """A connection that answers nothing and remembers whether it was closed."""

    def __init__(self) -> None:
        self.handshake: Event = Accepted()
        self.closed = False

    async def send_text(self, text: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def receive(self, timeout: float | None = None) -> Event:
        return Silence(0.0)

    async def quiet(self, window: float | None = None) -> Event | None:
        return None

    async def close(self, code: int = 1000) -> None:
        self.closed = True

    async def drop(self) -> None:
        self.closed = True

    async def finish(self, timeout: float | None = None) -> Event | None:
        return None


class _FailsOnThirdConnect:
    """A driver whose third connect finds nothing listening."""

    kind = "url"
    target = "ws://127.0.0.1:9"
    timeout = 1.0

    def __init__(self) -> None:
        self.opened: list[_FakeConnection] = []
        self.attempts = 0

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = (), *,
                      origin: bool = False) -> _FakeConnection:
        self.attempts += 1
        if self.attempts == 3:
            raise TargetUnreachable("nothing is listening")
        conn = _FakeConnection()
        self.opened.append(conn)
        return conn

    async def aclose(self) -> None: ...


@pytest.mark.asyncio
async def test_interleave_closes_what_it_opened_when_a_connect_fails() -> None:
    driver = _FailsOnThirdConnect()
    convs = [Conversation.of("/ws", f"client {i}") for i in range(4)]
    with pytest.raises(TargetUnreachable):
        await interleave(driver, Spec(), convs)
    assert len(driver.opened) == 3
    assert all(conn.closed for conn in driver.opened), "a connection was left open"


@pytest.mark.asyncio
async def test_an_abandoned_conversation_lets_its_connection_go() -> None:
    left: list[str] = []

    async def app(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the message: never answered, while a timer keeps the app busy
        sleeper = asyncio.get_running_loop().create_task(apps.ticking())
        try:
            left.append((await receive())["type"])
        finally:
            sleeper.cancel()

    driver = AsgiDriver(app, timeout=60)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            run_conversation(driver, Spec(), Conversation.of("/ws", "hello")), 0.5)
    assert left == ["websocket.disconnect"]
    await driver.aclose()


@pytest.mark.asyncio
async def test_an_example_out_of_time_is_cancelled_and_uses_up_the_shrink_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr("wscheck.generation.runner.example_bound", lambda timeout: 0.2)
    started: list[int] = []
    unwound: list[int] = []

    async def evaluate(n: int) -> PropertyFailed | None:
        started.append(n)
        try:
            await asyncio.sleep(3600)
        finally:
            unwound.append(n)
        return None

    driver = AsgiDriver(apps.silent, timeout=1.0)
    verdict = await run_property(Context(Spec(), driver, 50), "test.timeout",
                                 st.integers(0, 1000), evaluate)
    assert verdict.problem is not None and "did not finish within 0.2s" in verdict.problem
    assert started, "no example ran"
    assert unwound == started, "an example out of time was not cancelled"
    # The first example's 0.2 s counts against the in-process budget of 3 s: at most about
    # fifteen more examples wait out their bound before shrinking stops.
    assert len(started) <= 20


def test_an_observation_prints_as_the_side_by_side_table() -> None:
    conv = Conversation.of("/ws", "hi")
    obs = Observation(conv, (Accepted(), Text(PREFIX + "hi")), (Accepted(), Text("hi")))
    text = str(obs)
    assert text.startswith("conversation:\nconnect /ws")
    assert "expected" in text and "observed" in text
    assert ">> 1 text" in text, "the first difference is not marked"
    # What a plain ``assert obs.ok, obs`` raises (pytest's rewriting shows the repr
    # instead: write ``assert obs.ok, str(obs)`` there).
    assert str(AssertionError(obs)) == text


@pytest.mark.asyncio
async def test_exchange_reads_until_an_event_ends_the_reading() -> None:
    driver = AsgiDriver(apps.close_without_code, timeout=5)
    ex = await Exchange.open(driver, Conversation("/ws"))
    await ex.connection.send_text("hi")
    assert not await ex.read(5)
    assert ex.observed == [Accepted(), Closed(1000)], "read on past the close"
    assert ex.ended and not ex.listening
    await driver.aclose()


async def _noop(ctx: Context) -> Verdict:
    return Verdict()


def _check(check_id: str) -> Check:
    return Check(check_id, "MUST", "-", "-", frozenset(), _noop)


def test_the_registry_orders_by_area_then_registration() -> None:
    registry = Registry(areas=("echo", "bye", "prop"))
    for check_id in ("prop.a", "bye.b", "echo.c", "bye.a", "echo.a"):
        registry.add(_check(check_id))
    assert list(registry) == ["echo.c", "echo.a", "bye.b", "bye.a", "prop.a"]
    assert registry["bye.a"].id == "bye.a" and "nope" not in registry


def test_the_registry_refuses_a_duplicate_id_and_an_unknown_area() -> None:
    registry = Registry(areas=("echo",))
    registry.add(_check("echo.a"))
    with pytest.raises(ValueError, match="duplicate"):
        registry.add(_check("echo.a"))
    with pytest.raises(ValueError, match="no known area"):
        registry.add(_check("other.a"))


@pytest.mark.asyncio
async def test_a_message_after_the_close_is_flagged_not_worded() -> None:
    driver = AsgiDriver(apps.send_after_close, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_text("hi")
    await conn.receive()
    late = await conn.finish()
    assert isinstance(late, ProtocolViolation) and late.after_close
    early = await (await AsgiDriver(apps.send_before_accept, timeout=5).connect("/ws")).finish()
    assert not getattr(early, "after_close", False)


async def _shrunk_with_bounded_replays(monkeypatch: pytest.MonkeyPatch, fails_at: int,
                                       fails_when_bounded_at: int, *,
                                       search_bounded: bool = False,
                                       same: Callable[[int], object] | None = None,
                                       cut: Callable[[int], tuple[int, str] | None] | None
                                       = None,
                                       ) -> tuple[Verdict, list[tuple[int, float]]]:
    """A property over integers that fails from ``fails_at`` at the full timeout, and (as a
    reply that takes longer than the bound would) from ``fails_when_bounded_at`` when its
    reply wait is bounded; the verdict, and each example with the wait it was given."""
    from wscheck.drivers.base import reply_wait

    monkeypatch.setenv("CI", "true")
    seen: list[tuple[int, float]] = []

    async def evaluate(n: int) -> PropertyFailed | None:
        wait = reply_wait(2.0)
        seen.append((n, wait))
        limit = fails_at if wait >= 2.0 else fails_when_bounded_at
        return PropertyFailed(f"failed at {n}", None) if n >= limit else None

    driver = AsgiDriver(apps.silent, timeout=2.0)
    driver.replies.saw(0.01)  # the slowest reply so far: the bound is the floor, 0.25 s
    verdict = await run_property(Context(Spec(), driver, 100, 1), "test.bounded",
                                 st.integers(0, 1000), evaluate,
                                 search_bounded=search_bounded, same=same, cut=cut)
    await driver.aclose()
    return verdict, seen


@pytest.mark.asyncio
async def test_replays_after_the_first_failure_wait_a_bound_and_the_result_is_confirmed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 10, 10)
    first = next(i for i, (n, _) in enumerate(seen) if n >= 10)
    assert all(wait == 2.0 for _, wait in seen[:first + 1])  # up to the first failure
    assert any(wait == 0.25 for _, wait in seen[first + 1:-1])  # the shrink's replays
    assert seen[-1] == (10, 2.0)  # the minimal example, confirmed at the full timeout
    assert verdict.problem == "failed at 10"
    assert "failed again at the full 2s timeout" in verdict.notes[-1]


@pytest.mark.asyncio
async def test_a_failure_seen_only_at_the_bound_gives_way_to_the_first_real_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replays bounded too tightly fail on smaller examples than the app really fails on:
    the smallest of those passes at the full timeout, so the verdict is the first failure,
    which was seen at the full timeout."""
    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 500, 0)
    first = next(n for n, _ in seen if n >= 500)
    assert verdict.problem == f"failed at {first}"
    assert seen[-1][1] == 2.0 and seen[-1][0] < 500  # confirmed, and it passed
    assert "is the first failure" in verdict.notes[-1]


@pytest.mark.asyncio
async def test_a_bounded_search_waits_the_full_timeout_only_to_confirm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``search_bounded`` (a room's property, whose failures are texts that never come):
    every example waits at most the bound, from the first one on, and only the reported
    example is run at the full timeout."""
    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 10, 10,
                                                       search_bounded=True)
    assert all(wait == 0.25 for _, wait in seen[:-1]), seen
    assert seen[-1] == (10, 2.0)
    assert verdict.problem == "failed at 10"
    assert "while searching and shrinking" in verdict.notes[-1]
    assert "failed again at the full 2s timeout" in verdict.notes[-1]


@pytest.mark.asyncio
async def test_a_bounded_search_whose_failures_pass_at_the_full_timeout_runs_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every example fails at the bound (a correct app slower than it) and none at the full
    timeout: no failure seen only at the bound is a verdict; the property runs again
    waiting the full timeout, and passes."""
    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 10**6, 0,
                                                       search_bounded=True)
    assert verdict.passed, verdict
    assert seen[0][1] == 0.25
    bounded = [n for n, wait in seen if wait == 0.25]
    again = [n for n, wait in seen if wait == 2.0]
    assert bounded and len(again) >= 100  # the confirmations, then the whole run again


@pytest.mark.asyncio
async def test_a_bounded_search_reports_only_what_failed_at_the_full_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At the bound every example fails, at the full timeout only those from 500: whatever
    the verdict is, its example failed at the full timeout."""
    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 500, 0,
                                                       search_bounded=True)
    assert verdict.problem is not None
    n = int(verdict.problem.rsplit(" ", 1)[1])
    assert n >= 500 and (n, 2.0) in seen


@pytest.mark.asyncio
async def test_a_bounded_replay_of_a_conversation_already_seen_is_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Examples that are the same conversation (here: the same hundred) are run once at the
    bound; the shrinker's others take that result, and the one reported is still confirmed
    at the full timeout. Without ``same``, the shrinker's replays run every example."""
    hundreds = lambda n: n // 100  # noqa: E731
    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 100, 100,
                                                       search_bounded=True, same=hundreds)
    bounded = [hundreds(n) for n, wait in seen if wait < 2.0]
    assert len(bounded) == len(set(bounded)), seen
    assert seen[-1][1] == 2.0 and hundreds(seen[-1][0]) == 1
    assert verdict.problem == f"failed at {seen[-1][0]}"
    _, every = await _shrunk_with_bounded_replays(monkeypatch, 100, 100, search_bounded=True)
    assert len({hundreds(n) for n, _ in every}) < len(every)  # the shrinker's many per hundred


@pytest.mark.parametrize("holds", [True, False], ids=["cut-fails-too", "cut-passes"])
@pytest.mark.asyncio
async def test_an_example_cut_where_it_went_wrong_is_reported_when_it_fails_too(
    monkeypatch: pytest.MonkeyPatch, holds: bool,
) -> None:
    """A room's property cuts its smallest failure after the step that went wrong (``cut``):
    run first at the full timeout, that example is the verdict when it fails there; when it
    passes there, the smallest failure is confirmed as without a cut. (Here the cut is any
    other example: one that fails from 10, and 3, which passes.)"""
    other = 1010 if holds else 3

    def cut(n: int) -> tuple[int, str]:
        return other, f"cut to {other}"

    verdict, seen = await _shrunk_with_bounded_replays(monkeypatch, 10, 10,
                                                       search_bounded=True, cut=cut)
    full = [n for n, wait in seen if wait == 2.0]
    notes = "\n".join(verdict.notes)
    if holds:
        assert full == [1010], seen  # the cut only: it failed, nothing else is run
        assert verdict.problem == "failed at 1010"
        assert "then cut to 1010: the example above" in notes
    else:
        assert full == [3, 10], seen  # the cut passed: the smallest failure is confirmed
        assert verdict.problem == "failed at 10" and "cut to" not in notes


def test_a_forced_seed_leaves_the_seeding_to_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--hypothesis-seed N`` must draw the same examples every run: a check that runs its
    examples twice may pick a fresh seed of its own only when no seed is forced (it did
    always, and ``prop.stateful`` missed a defect under a forced seed one run in 25)."""
    import hypothesis.core
    from hypothesis import settings

    from wscheck.generation import runner

    # Not derandomized (under CI every profile is, and then there is no seed at all).
    monkeypatch.setattr(runner, "profile", lambda: settings(derandomize=False))
    shared_seed = runner.shared_seed
    monkeypatch.setattr(hypothesis.core, "global_force_seed", None)
    assert isinstance(shared_seed(), int)
    monkeypatch.setattr(hypothesis.core, "global_force_seed", 2)
    assert shared_seed() is None


@pytest.mark.asyncio
async def test_once_the_shrink_budget_is_spent_hypothesis_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the budget spent, every candidate smaller than the best failure would pass at
    once, and Hypothesis would go on trying them for as long as its shrinker has ideas
    (thousands of runs for a long example): it is stopped, the smallest failure found is the
    verdict, and the notes say the budget ran out."""
    from wscheck.generation import runner

    monkeypatch.setenv("CI", "true")
    monkeypatch.setitem(runner.SHRINK_SECONDS, "asgi", 0.0)
    calls: list[list[int]] = []

    async def evaluate(xs: list[int]) -> PropertyFailed | None:
        calls.append(xs)
        return PropertyFailed(f"failed at {xs}", None) if len(xs) >= 3 else None

    driver = AsgiDriver(apps.silent, timeout=2.0)
    verdict = await run_property(Context(Spec(), driver, 200, 1), "test.budget",
                                 st.lists(st.integers(), max_size=60), evaluate)
    await driver.aclose()
    first = next(xs for xs in calls if len(xs) >= 3)
    assert calls[-1] is first  # nothing ran after the first failure
    assert first != [0, 0, 0]  # so there was something left to shrink
    assert verdict.problem == f"failed at {first}"
    assert "shrink budget ran out" in verdict.notes[0]
