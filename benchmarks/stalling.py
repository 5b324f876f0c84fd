"""How long a failing property run takes against an app that stalls on every replay.

An app that goes silent costs a full timeout per replay; the shrink budget
(``wscheck.generation.runner.SHRINK_SECONDS``) keeps Hypothesis from turning that into minutes.
The tests bound the number of timeouts such a run waits (a count a loaded machine cannot
change); this script measures the time, as ratios within one run: the run's wall time over
the timeout, and over the same run with the budget lifted (60 s).

Usage: ``python benchmarks/stalling.py [--timeout 0.5]``. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import wscheck.generation.runner as properties  # noqa: E402
from tests.apps import ticking  # noqa: E402
from tests.servers import serve_uvicorn  # noqa: E402
from tests.test_properties import PREFIX, CountingDriver, echo_mutant  # noqa: E402
from wscheck.core.spec import Spec  # noqa: E402
from wscheck.drivers.asgi import AsgiDriver, lifespan  # noqa: E402
from wscheck.drivers.url import UrlDriver  # noqa: E402
from wscheck.run.registry import SUITE, Context  # noqa: E402


def stalling_app():  # type: ignore[no-untyped-def]
    """Replies twice per connection, then goes silent."""
    return echo_mutant(lambda m, before: PREFIX + m if len(before) < 2 else None)


async def _asgi_run(timeout: float) -> tuple[float, int, bool]:
    # A task waking every 10 ms keeps a timer due before every deadline, so the driver
    # cannot know the app is idle.
    sleeper = asyncio.get_running_loop().create_task(ticking())
    async with lifespan(stalling_app()) as wrapped:
        driver = CountingDriver(AsgiDriver(wrapped, timeout=timeout))
        start = time.monotonic()
        verdict = await SUITE["prop.conversation"].run(Context(Spec(), driver, 100))
        elapsed = time.monotonic() - start
        sleeper.cancel()
        await driver.aclose()
    return elapsed, driver.timeouts, verdict.passed


async def _url_run(address: str, timeout: float) -> tuple[float, int, bool]:
    driver = CountingDriver(UrlDriver(f"ws://{address}", timeout=timeout, quiet_window=0.1))
    try:
        start = time.monotonic()
        verdict = await SUITE["prop.conversation"].run(Context(Spec(), driver, 25))
        return time.monotonic() - start, driver.timeouts, verdict.passed
    finally:
        await driver.aclose()


def measure(kind: str, timeout: float) -> tuple[float, int, bool]:
    if kind == "asgi":
        return asyncio.run(_asgi_run(timeout))
    with serve_uvicorn(stalling_app()) as address:
        return asyncio.run(_url_run(address, timeout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=0.5)
    args = parser.parse_args(argv)
    os.environ["CI"] = "true"  # derandomized, no example database: runs are comparable
    SUITE.all()
    budgets = dict(properties.SHRINK_SECONDS)
    figures: dict[str, object] = {"timeout": args.timeout, "shrink_seconds": budgets}
    print(f"{'driver':<8} {'budget':>8} {'seconds':>8} {'timeouts':>9} {'s/timeout':>10}")
    for kind in ("asgi", "url"):
        for label, budget in (("budget", budgets[kind]), ("lifted", 60.0)):
            properties.SHRINK_SECONDS[kind] = budget
            elapsed, timeouts, passed = measure(kind, args.timeout)
            assert not passed, "the stalling app passed: the benchmark measures nothing"
            figures[f"{kind}_{label}_seconds"] = round(elapsed, 2)
            figures[f"{kind}_{label}_timeouts"] = timeouts
            print(f"{kind:<8} {budget:>7g}s {elapsed:>8.2f} {timeouts:>9} "
                  f"{elapsed / args.timeout:>10.1f}")
        properties.SHRINK_SECONDS[kind] = budgets[kind]
        figures[f"{kind}_budget_vs_lifted"] = round(
            figures[f"{kind}_budget_seconds"] / figures[f"{kind}_lifted_seconds"], 2)  # type: ignore[operator]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
