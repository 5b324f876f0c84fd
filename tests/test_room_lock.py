"""Over a network a target's one room is held across processes: the scenarios of two runs
against one server (xdist workers, each with a driver of its own) take turns, and a relay
still in the room leaves inside the lock when its run ends. Before, `wscheck run --url ...
-- -n 2` failed FastAPI's tutorial003, a correct room, on texts the other worker's clients
caused."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from reference_app import create_app
from tests.servers import serve_uvicorn
from tests.verdicts import _outcomes, run_checks
from wscheck.core.spec import load_spec
from wscheck.drivers.asgi import AsgiDriver
from wscheck.drivers.url import UrlDriver
from wscheck.run.room import room_lock_path, vacate

CHAT = load_spec(Path(__file__).resolve().parent.parent / "examples" / "fastapi_docs_chat.toml")
ROOM_CHECKS = ("broadcast.others", "broadcast.leave-notice", "broadcast.no-duplicate",
               "broadcast.drop-unnoticed", "prop.broadcast")

pytestmark = pytest.mark.skipif(
    sys.platform == "win32",
    reason="the room lock across processes is flock, which Windows lacks: there the guide "
           "says to run room checks over a network without -n")


def test_two_runs_against_one_server_take_turns_in_its_room() -> None:
    async def go(address: str) -> list[dict[str, str]]:
        drivers = [UrlDriver(f"ws://{address}", timeout=2.0) for _ in range(2)]
        try:
            runs = await asyncio.gather(*(run_checks(d, CHAT, 5, ROOM_CHECKS)
                                          for d in drivers))
        finally:
            for driver in drivers:
                await vacate(driver)
                await driver.aclose()
        return [{k: v for k, v in _outcomes(r).items() if k in ROOM_CHECKS} for r in runs]

    with serve_uvicorn(create_app(CHAT)) as address:
        runs = asyncio.run(asyncio.wait_for(go(address), 120))
    assert runs == [dict.fromkeys(ROOM_CHECKS, "pass")] * 2


def test_the_lock_is_per_target_and_only_over_a_network() -> None:
    one, other = UrlDriver("ws://127.0.0.1:1"), UrlDriver("ws://127.0.0.1:2/")
    assert room_lock_path(one) == room_lock_path(UrlDriver("ws://127.0.0.1:1/"))
    assert room_lock_path(one) != room_lock_path(other)
    assert room_lock_path(AsgiDriver(create_app(CHAT))) is None  # each process, its own app


def test_a_last_leave_is_given_its_quiet_window_by_the_next_scenario_on_the_target() -> None:
    """Nothing witnesses the last leave in a room without leave notices: the room is free a
    quiet window later. The scenario does not wait for that; the next one on the target
    does, before its first step: on the same driver, and on another one that knows only the
    lock file (another process's)."""
    import time

    from tests.broken_rooms import no_leave_notice
    from wscheck.model.room import Join, Say
    from wscheck.run.room import _FREE_AT, room_key, run_room

    assert CHAT.broadcast is not None
    room = dataclasses.replace(CHAT.broadcast, leave_notice=None)  # no relay either
    quiet = 1.0

    def joins_of(driver: UrlDriver) -> list[float]:
        """When each connection of ``driver`` was opened (wall-clock seconds)."""
        joins: list[float] = []
        connect = driver.connect

        async def timed(*args: Any, **kwargs: Any) -> Any:
            joins.append(time.time())
            return await connect(*args, **kwargs)

        driver.connect = timed  # type: ignore[method-assign]
        return joins

    async def go(address: str) -> tuple[float, float, float]:
        one, other = (UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=quiet)
                      for _ in range(2))
        joins, other_joins = joins_of(one), joins_of(other)
        try:
            started = time.monotonic()
            await run_room(one, room, [Join(1), Say(1, "a")])
            took, free_at = time.monotonic() - started, _FREE_AT[room_key(one)]
            await run_room(one, room, [Join(1), Say(1, "b")])
            then = _FREE_AT.pop(room_key(one))  # what another process has: the lock file
            await run_room(other, room, [Join(1), Say(1, "c")])
            return took, joins[1] - free_at, other_joins[0] - then
        finally:
            await one.aclose()
            await other.aclose()

    with serve_uvicorn(no_leave_notice.app) as address:
        took, same, across = asyncio.run(asyncio.wait_for(go(address), 60))
    # One quiet window (the scenario's, for extras); the last leave's went to the next one.
    assert took < 2 * quiet - 0.1, took
    assert same >= -0.05 and across >= -0.05, (same, across)

