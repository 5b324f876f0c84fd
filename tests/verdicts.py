"""The whole suite's verdict per check id, for tests that judge apps rather than checks.

``asgi_verdicts(app)`` runs every check of :data:`wscheck.run.registry.SUITE` in-process and
``url_verdicts(app)`` runs them over the network against ``app`` served by uvicorn. Both give
``{check_id: "pass" | "fail" | "inconclusive" | "n/a"}`` so a test can assert the exact
verdict of every check, not just "it failed somewhere".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Collection, Iterator
from typing import Any, Literal

from wscheck.core.defaults import DEFAULT_CONCURRENCY, DEFAULT_IDLE_WATCH
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import ASGIApp, AsgiDriver, lifespan
from wscheck.drivers.base import Driver
from wscheck.run.registry import SUITE, Check, Context, Verdict
from wscheck.run.schedule import Schedule

__all__ = [
    "Outcome",
    "asgi_verdicts",
    "failing",
    "inconclusive",
    "run_checks",
    "url_verdicts",
    "verdicts_async",
]

Outcome = Literal["pass", "fail", "inconclusive", "n/a"]


@contextlib.contextmanager
def derandomized() -> Iterator[None]:
    """Property checks under the ``wscheck-ci`` profile (fixed seed, no example database), so
    that a verdict does not depend on what an earlier run stored."""
    old = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        yield
    finally:
        if old is None:
            del os.environ["CI"]
        else:
            os.environ["CI"] = old


async def run_checks(driver: Driver, spec: Spec, examples: int = 100,
                     only: Collection[str] | None = None, *,
                     concurrency: int = DEFAULT_CONCURRENCY,
                     idle_watch: float = DEFAULT_IDLE_WATCH, randomized: bool = False,
                     ) -> dict[str, tuple[Check, Verdict | None]]:
    """Every check (or those named in ``only``) against ``driver``: its verdict, or ``None``
    when it does not apply to ``spec``.

    Scheduled as ``wscheck run`` schedules an in-process run (:class:`wscheck.run.schedule.
    Schedule`): the checks that wait on the clock start at once and the others run at their
    turn beside them, a verdict taken from beside others only when it passed. So the
    verdicts are the plugin's, and a suite costs its work plus one clock wait, not the sum
    of every wait. ``concurrency=1``: one check after another; ``idle_watch`` is the time
    probes' watch (the setting of that name); ``randomized``: the properties under the
    profile in force (the default one draws at random) instead of derandomized."""
    results: dict[str, tuple[Check, Verdict | None]] = {}
    selected: list[tuple[Check, Context]] = []
    for chk in SUITE.for_spec(spec):
        if only is not None and chk.id not in only:
            continue
        results[chk.id] = (chk, None)  # in suite order; a verdict replaces it below
        if not chk.not_applicable(spec):
            selected.append((chk, Context(spec, driver, examples, concurrency=concurrency,
                                          idle_watch=idle_watch)))
    with contextlib.nullcontext() if randomized else derandomized():
        schedule = Schedule(selected, concurrency, {chk.id for chk, _ in selected if chk.waits})
        schedule.start()
        try:
            # The clock-bound checks' verdicts last, as the plugin reports them: the others
            # run at their turn meanwhile.
            for chk, _ in sorted(selected, key=lambda pair: (pair[0].last, pair[0].waits)):
                results[chk.id] = (chk, await schedule.verdict(chk.id))
        finally:
            await schedule.cancel()
    return results


def _outcomes(results: dict[str, tuple[Check, Verdict | None]]) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for check_id, (_, verdict) in results.items():
        if verdict is None:
            outcomes[check_id] = "n/a"
        else:
            outcomes[check_id] = ("pass" if verdict.passed else
                                  "inconclusive" if verdict.is_inconclusive else "fail")
    return outcomes


async def _in_process(app: ASGIApp, spec: Spec | None, *, timeout: float, examples: int,
                      only: Collection[str] | None, idle_watch: float, concurrency: int,
                      ) -> dict[str, tuple[Check, Verdict | None]]:
    """:func:`run_checks` against ``app`` in-process, its lifespan run around the suite."""
    async with lifespan(app) as wrapped:
        driver = AsgiDriver(wrapped, timeout=timeout)
        try:
            return await run_checks(driver, spec if spec is not None else Spec(), examples,
                                    only, idle_watch=idle_watch, concurrency=concurrency)
        finally:
            await driver.aclose()


async def verdicts_async(app: ASGIApp, spec: Spec | None = None, *, timeout: float = 2.0,
                         examples: int = 100, only: Collection[str] | None = None,
                         idle_watch: float = DEFAULT_IDLE_WATCH,
                         concurrency: int = DEFAULT_CONCURRENCY) -> dict[str, Outcome]:
    """The suite's outcomes for ``app`` in-process (its lifespan run around the suite)."""
    return _outcomes(await _in_process(app, spec, timeout=timeout, examples=examples,
                                       only=only, idle_watch=idle_watch,
                                       concurrency=concurrency))


def asgi_verdict(app: Any, check_id: str, spec: Spec | None = None, *, timeout: float = 2.0,
                 examples: int = 100, idle_watch: float = DEFAULT_IDLE_WATCH) -> Verdict:
    """The verdict of one check against ``app`` in-process, for a test that reads its
    problem or notes (on a fresh event loop)."""
    results = asyncio.run(_in_process(app, spec, timeout=timeout, examples=examples,
                                      only=[check_id], idle_watch=idle_watch,
                                      concurrency=DEFAULT_CONCURRENCY))
    verdict = results[check_id][1]
    assert verdict is not None, f"{check_id} does not apply to the spec"
    return verdict


def asgi_verdicts(app: Any, spec: Spec | None = None, *, timeout: float = 2.0,
                  examples: int = 100, only: Collection[str] | None = None,
                  idle_watch: float = DEFAULT_IDLE_WATCH,
                  concurrency: int = DEFAULT_CONCURRENCY) -> dict[str, Outcome]:
    """Synchronous :func:`verdicts_async`, on a fresh event loop."""
    return asyncio.run(verdicts_async(app, spec, timeout=timeout, examples=examples,
                                      only=only, idle_watch=idle_watch,
                                      concurrency=concurrency))


async def _url_verdicts(url: str, spec: Spec, timeout: float, quiet_window: float,
                        examples: int, only: Collection[str] | None) -> dict[str, Outcome]:
    from wscheck.drivers.url import UrlDriver

    driver = UrlDriver(url, timeout=timeout, quiet_window=quiet_window)
    try:
        return _outcomes(await run_checks(driver, spec, examples, only))
    finally:
        await driver.aclose()


def url_verdicts(app: Any, spec: Spec | None = None, *, timeout: float = 2.0,
                 quiet_window: float = 0.2, examples: int = 10,
                 only: Collection[str] | None = None, **uvicorn_config: Any,
                 ) -> dict[str, Outcome]:
    """The suite's outcomes for ``app`` served by uvicorn on a free loopback port, checked
    over the network with :class:`~wscheck.drivers.url.UrlDriver` (few generated examples:
    every conversation costs real round trips); ``uvicorn_config`` goes to uvicorn."""
    from tests.servers import serve_uvicorn

    spec = spec if spec is not None else Spec()
    with serve_uvicorn(app, **uvicorn_config) as address:
        return asyncio.run(_url_verdicts(f"ws://{address}", spec, timeout, quiet_window,
                                         examples, only))


def failing(outcomes: dict[str, Outcome]) -> set[str]:
    """The ids of the checks that failed."""
    return {check_id for check_id, outcome in outcomes.items() if outcome == "fail"}


def inconclusive(outcomes: dict[str, Outcome]) -> set[str]:
    """The ids of the checks that could not observe their line."""
    return {check_id for check_id, outcome in outcomes.items() if outcome == "inconclusive"}
