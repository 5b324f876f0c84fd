"""Correct implementations, written different ways, pass every check in-process. A kit that
only passed the reference app could be judging its habits, not the protocol.

Over the network, under uvicorn, hypercorn, daphne and granian, they are checked in
``tests/test_servers.py``; the Node.js implementation in ``tests/test_node_server.py``.
"""

from __future__ import annotations

import asyncio
import importlib

import pytest

from tests.verdicts import Outcome, asgi_verdicts, run_checks
from wscheck.core.defaults import DEFAULT_CONCURRENCY
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver, lifespan
from wscheck.run.registry import SUITE

#: Every check passes, except those that do not apply to the reference protocol (the
#: broadcast room's).
ALL_PASS: dict[str, Outcome] = {c.id: "n/a" if c.not_applicable(Spec()) else "pass"
                                for c in SUITE.all()}

#: The tutorial's refusal (close before accept) conforms at MUST level; only the SHOULD-level
#: auth.missing-observable says the 1008 is not observable on the wire.
BEFORE_ACCEPT: dict[str, Outcome] = {**ALL_PASS, "auth.missing-observable": "fail"}

IN_PROCESS: dict[str, dict[str, Outcome]] = {
    "reference_app": ALL_PASS,
    # Plain Starlette, no FastAPI.
    "tests.implementations.starlette_app": ALL_PASS,
    # Raw ASGI, no framework, only the ASGI keys that are required, no lifespan support.
    "tests.implementations.raw_asgi": ALL_PASS,
    # Litestar: it caches what it parsed from a connection (query, cookies) in the scope's
    # "state", so it also shows that every connection gets its own copy of the lifespan state.
    "tests.implementations.litestar_app": ALL_PASS,
    # Falcon: it refuses a lifespan scope without ``asgi.version`` 3, as servers send it.
    "tests.implementations.falcon_app": ALL_PASS,
    # Django Channels: consumers behind its router, no lifespan application.
    "tests.implementations.channels_app": ALL_PASS,
    # FastAPI, refusing the way the reference app does (accept, then close 1008).
    "tests.implementations.accept_then_close": ALL_PASS,
    # Messages up to 64 KiB (65,536 bytes of UTF-8) and no more: larger ones get 1009.
    "tests.implementations.limit_64kib": ALL_PASS,
    # FastAPI in the tutorial's style: close 1008 before accept.
    "tests.implementations.close_before_accept": BEFORE_ACCEPT,
}


def _app(module: str) -> object:
    return importlib.import_module(module).app


@pytest.mark.parametrize("module", sorted(IN_PROCESS))
def test_in_process_verdicts(module: str) -> None:
    assert asgi_verdicts(_app(module)) == IN_PROCESS[module]


@pytest.mark.slow  # 50 ms per reply, over the whole suite
@pytest.mark.parametrize("check_id", sorted(ALL_PASS))
def test_slow_replies_pass_with_the_default_timeout(check_id: str) -> None:
    """50 ms before every reply: each wait is per message, so the 2 s timeout is plenty even
    for 50 pipelined messages (2.5 s in all); and an app that sleeps is never taken for idle.
    Few generated examples: every message costs 50 ms. One test per check, so that xdist
    spreads the suite (the app keeps no state across connections)."""
    from tests.implementations.slow_replies import app

    # The long run is 6,100 replies: at 50 ms each, 8 conversations at a time take 40 s; 48
    # at a time, 7 s (what a user with a slow app would raise --wscheck-concurrency to).
    concurrency = 48 if check_id == "isolation.long-run" else DEFAULT_CONCURRENCY
    assert asgi_verdicts(app, timeout=2.0, examples=5, only={check_id},
                         concurrency=concurrency) == {check_id: ALL_PASS[check_id]}


def test_close_before_accept_is_explained() -> None:
    """The close before accept passes auth.missing with a note naming the wire form, and
    auth.missing-observable says exactly what is wrong: the 1008 does not reach the wire."""
    app = _app("tests.implementations.close_before_accept")

    async def run() -> dict[str, tuple[str | None, tuple[str, ...]]]:
        async with lifespan(app) as wrapped:  # type: ignore[arg-type]
            driver = AsgiDriver(wrapped, timeout=2.0)
            try:
                results = await run_checks(driver, Spec(), only={
                    "auth.missing", "auth.q-invalid", "auth.missing-observable"})
            finally:
                await driver.aclose()
        return {i: (v.problem, v.notes) for i, (_, v) in results.items() if v is not None}

    verdicts = asyncio.run(run())
    for check_id in ("auth.missing", "auth.q-invalid"):
        problem, notes = verdicts[check_id]
        assert problem is None, check_id
        assert len(notes) == 1 and "1008 is not observable on the wire" in notes[0], check_id
    problem, _ = verdicts["auth.missing-observable"]
    assert problem is not None
    assert "1008 is not observable on the wire" in problem
    assert "accept first, then close with 1008" in problem
