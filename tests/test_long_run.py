"""The long run (``isolation.long-run``): a fixed workload, the counts it claims, and the same
verdicts in-process and over uvicorn.

The broken apps whose defect builds up over a process are in ``tests/broken`` and the table of
``tests/test_broken_apps.py`` (they fail the long run after the rest of the suite); here the
long run runs alone, from a fresh app, over both kinds of target.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

import pytest

from tests.servers import serve_uvicorn
from tests.verdicts import run_checks
from wscheck.checks.longrun import CONNECTIONS, NETWORK_CONNECTIONS, workload
from wscheck.core.events import Text
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver, lifespan
from wscheck.drivers.base import Driver
from wscheck.drivers.url import UrlDriver
from wscheck.model.echo import expected
from wscheck.run.registry import Context, Verdict

LONG_RUN = "isolation.long-run"


def test_the_workload_is_fixed_and_as_long_as_it_says() -> None:
    ctx = Context(Spec(), driver=None)  # type: ignore[arg-type]  # a workload needs no driver
    work = workload(ctx)
    assert work == workload(ctx)
    assert len(work.conversations) == CONNECTIONS >= 200
    assert work.messages[-1] >= 2000 and work.byes[-1] >= 150
    replies = sum(isinstance(e, Text) for conv in work.conversations
                  for e in expected(Spec(), conv))
    assert replies >= 3000
    assert len({conv.path for conv in work.conversations}) == 2  # both endpoints
    # Over a network: fewer connections, as many messages and replies.
    network = workload(Context(Spec(), driver=UrlDriver("ws://127.0.0.1:9")))
    assert len(network.conversations) == NETWORK_CONNECTIONS < CONNECTIONS
    assert network.messages[-1] >= 2000
    assert sum(isinstance(e, Text) for conv in network.conversations
               for e in expected(Spec(), conv)) >= 3000


async def _long_run(driver: Driver) -> Verdict:
    try:
        results = await run_checks(driver, Spec(), only={LONG_RUN})
    finally:
        await driver.aclose()
    verdict = results[LONG_RUN][1]
    assert verdict is not None
    return verdict


def in_process(module: str) -> Verdict:
    async def run() -> Verdict:
        async with lifespan(importlib.import_module(module).app) as app:
            return await _long_run(AsgiDriver(app, timeout=2.0))

    return asyncio.run(run())


def over_uvicorn(module: str) -> Verdict:
    with serve_uvicorn(importlib.import_module(module).app, lifespan="on") as address:
        return asyncio.run(_long_run(UrlDriver(f"ws://{address}", timeout=2.0,
                                               quiet_window=0.05)))


@pytest.mark.parametrize("run", [in_process, over_uvicorn])
def test_a_conforming_app_passes_and_is_told_how_far_it_went(run: Callable[[str], Verdict]) -> None:
    verdict = run("reference_app")
    assert verdict.passed, verdict.problem
    connections = CONNECTIONS if run is in_process else NETWORK_CONNECTIONS
    assert any(f"{connections} connections" in note for note in verdict.notes)


@pytest.mark.parametrize("run", [in_process, over_uvicorn])
def test_a_reply_dropped_every_2000th_fails_it(run: Callable[[str], Verdict]) -> None:
    """Alone, from a fresh app, the long run draws over 3,000 replies: it meets the drop,
    waits out the missing reply once per worker, and says how far it had gone."""
    verdict = run("tests.broken.drops_every_nth_reply")
    assert verdict.problem is not None
    assert "though the first of its kind did at the start" in verdict.problem
    assert "connections" in verdict.problem and "byes of the long run" in verdict.problem
    obs = verdict.observation
    assert obs is not None and not obs.ok


def test_farewells_missing_after_the_hundredth_bye_fail_it() -> None:
    verdict = in_process("tests.broken.bye_fails_after_n")
    assert verdict.problem is not None
    obs = verdict.observation
    assert obs is not None and obs.conversation.path == "/ws"
    assert not any(isinstance(e, Text) and e.text.startswith("请注意") for e in obs.observed)


def test_a_defect_from_the_start_leaves_it_inconclusive() -> None:
    """A wrong prefix shows in the first conversation, run alone: not state that builds up,
    so the long run does not claim it; echo.exact and the others name it."""
    verdict = in_process("tests.broken.wrong_prefix")
    assert verdict.is_inconclusive
    assert verdict.inconclusive is not None and "does not build up" in verdict.inconclusive
