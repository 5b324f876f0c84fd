"""Over a network a target's one room is held across processes: the scenarios of two runs
against one server (xdist workers, each with a driver of its own) take turns, and a relay
still in the room leaves inside the lock when its run ends. Before, `wscheck run --url ...
-- -n 2` failed FastAPI's tutorial003, a correct room, on texts the other worker's clients
caused."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

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
