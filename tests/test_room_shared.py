"""The scenarios of broadcast.sender, broadcast.others and broadcast.leave-notice are each
observed once in a run, and judged by their check and by the checks whose control they are:
broadcast.left-not-addressed (with nobody gone, the clients get each other's messages) and
broadcast.drop-unnoticed (with no drop unnoticed, all three lines hold). Over a network each
is a scenario saved, and on a room that fails one a whole deadline. A check confirmed alone,
or run again, observes afresh."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reference_app import create_app
from tests.verdicts import asgi_verdicts
from wscheck.checks import broadcast
from wscheck.core.spec import load_spec
from wscheck.drivers.asgi import AsgiDriver
from wscheck.model.room import RoomStep
from wscheck.run.registry import CONFIRMING_ALONE, SUITE, Context

CHAT = load_spec(Path(__file__).resolve().parent.parent / "examples" / "fastapi_docs_chat.toml")
SHARED = ("broadcast.sender", "broadcast.others", "broadcast.leave-notice",
          "broadcast.left-not-addressed", "broadcast.drop-unnoticed")


@pytest.fixture
def scenarios(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RoomStep, ...]]:
    """Every scenario the room's checks run, in order (they still run)."""
    seen: list[tuple[RoomStep, ...]] = []
    from wscheck.run.room import run_room

    async def counted(driver: Any, spec: Any, steps: Sequence[RoomStep], **kw: Any) -> Any:
        seen.append(tuple(steps))
        return await run_room(driver, spec, steps, **kw)

    monkeypatch.setattr(broadcast, "run_room", counted)
    return seen


def _others(seen: list[tuple[RoomStep, ...]],
            steps: tuple[RoomStep, ...] = broadcast._OTHERS_STEPS) -> int:
    return sum(1 for s in seen if s == steps)


@pytest.mark.parametrize("app, outcomes", [
    ("reference", dict.fromkeys(SHARED, "pass")),
    ("says_only_to_sender", {"broadcast.sender": "pass", "broadcast.others": "fail",
                             "broadcast.leave-notice": "pass",
                             "broadcast.left-not-addressed": "inconclusive",
                             "broadcast.drop-unnoticed": "inconclusive"}),
    ("no_leave_notice", {"broadcast.sender": "pass", "broadcast.others": "pass",
                         "broadcast.leave-notice": "fail",
                         "broadcast.left-not-addressed": "pass",
                         "broadcast.drop-unnoticed": "inconclusive"}),
])
def test_one_run_observes_each_shared_scenario_once(
        scenarios: list[tuple[RoomStep, ...]], app: str, outcomes: dict[str, str]) -> None:
    if app == "reference":
        target = create_app(CHAT)
    else:
        import importlib
        target = importlib.reload(importlib.import_module(f"tests.broken_rooms.{app}")).app
    got = asgi_verdicts(target, CHAT, only=SHARED, examples=5)
    assert {k: v for k, v in got.items() if k in SHARED} == outcomes
    for steps in (broadcast._OTHERS_STEPS, broadcast._SENDER_STEPS, broadcast._LEAVE_STEPS):
        assert _others(scenarios, steps) == 1, scenarios


def _context() -> Context:
    return Context(CHAT, AsgiDriver(create_app(CHAT), timeout=2.0))


def test_a_check_run_again_observes_again(scenarios: list[tuple[RoomStep, ...]]) -> None:
    """The same target checked twice (a second run on one driver) is observed twice: a check
    takes one observation once."""
    others = SUITE.get("broadcast.others")
    assert others is not None

    async def go() -> list[bool]:
        ctx = _context()
        try:
            return [(await others.run(ctx)).passed for _ in range(2)]
        finally:
            await ctx.driver.aclose()

    assert asyncio.run(asyncio.wait_for(go(), 60)) == [True, True]
    assert _others(scenarios) == 2


def test_a_check_confirmed_alone_observes_afresh(scenarios: list[tuple[RoomStep, ...]]) -> None:
    async def go() -> None:
        ctx = _context()
        try:
            await broadcast._OTHERS.observe(ctx, "broadcast.others")
            token = CONFIRMING_ALONE.set(True)
            try:
                await broadcast._OTHERS.observe(ctx, "broadcast.left-not-addressed")
            finally:
                CONFIRMING_ALONE.reset(token)
            # Outside the confirmation, the first observation is still there to be taken.
            await broadcast._OTHERS.observe(ctx, "broadcast.left-not-addressed")
        finally:
            await ctx.driver.aclose()

    asyncio.run(asyncio.wait_for(go(), 60))
    assert _others(scenarios) == 2


def test_a_check_stopped_midway_leaves_the_other_to_observe_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The check running the scenario is cancelled (a run ended early for it): the check
    waiting for its observation is not cancelled with it, and runs the scenario itself."""
    started: list[str] = []

    async def fake(driver: Any, spec: Any, steps: Any, **kw: Any) -> Any:
        started.append("run")
        if len(started) == 1:
            await asyncio.sleep(60)
        return "observed"

    monkeypatch.setattr(broadcast, "run_room", fake)

    async def go() -> object:
        ctx = _context()
        try:
            first = asyncio.ensure_future(broadcast._OTHERS.observe(ctx, "broadcast.others"))
            await asyncio.sleep(0)
            second = asyncio.ensure_future(
                broadcast._OTHERS.observe(ctx, "broadcast.left-not-addressed"))
            await asyncio.sleep(0)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            return await second
        finally:
            await ctx.driver.aclose()

    assert asyncio.run(asyncio.wait_for(go(), 10)) == "observed"
    assert started == ["run", "run"]
