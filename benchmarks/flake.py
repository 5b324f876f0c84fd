"""Are the kit's verdicts flake-free? Run the whole suite many times with different Hypothesis
seeds and compare the failing sets.

    python benchmarks/flake.py                   # 20 runs per target (about 6 minutes)
    python benchmarks/flake.py --runs 5 --network-runs 3

Targets: the reference app in-process, the reference app over uvicorn (the URL driver), and
a handful of broken apps in-process. Every run draws its own examples (``--hypothesis-seed``
N, without the derandomized CI profile or an example database), so the generated properties
differ from run to run while the fixed checks repeat. A target is flake-free when every run
gives the same set of failing checks. For the broken apps the set may include the
generated-property checks the table of ``tests/test_broken_apps.py`` lists as "may fail";
the report also says whether each run stayed inside the table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import hypothesis.core  # noqa: E402
from hypothesis import settings  # noqa: E402

from wscheck.checks.prop import profile  # noqa: E402
from wscheck.core.spec import Spec  # noqa: E402
from wscheck.drivers.asgi import AsgiDriver, lifespan  # noqa: E402
from wscheck.drivers.base import Driver  # noqa: E402
from wscheck.run.registry import SUITE, Context  # noqa: E402

#: Broken apps run by default: sure failures of every kind (fixed and property checks,
#: isolation, a SHOULD-level crash, a timing-dependent reordering).
MUTANTS = ["wrong_prefix", "replies_to_latest_client", "q_line_always", "token_wins",
           "swaps_pipelined_replies", "crashes_on_disconnect"]

FailingSet = frozenset[str]


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Hypothesis draws from ``seed`` (what ``pytest --hypothesis-seed`` sets), under the
    ``wscheck`` profile without an example database, so no run replays another's failures."""
    old_ci = os.environ.pop("CI", None)
    old_seed = hypothesis.core.global_force_seed
    old_profile = settings.get_profile("wscheck")
    settings.register_profile("wscheck", parent=old_profile, database=None, derandomize=False)
    hypothesis.core.global_force_seed = seed  # type: ignore[assignment]
    try:
        assert profile().database is None
        yield
    finally:
        hypothesis.core.global_force_seed = old_seed
        settings.register_profile("wscheck", parent=old_profile)
        if old_ci is not None:
            os.environ["CI"] = old_ci


async def _failing(driver: Driver, examples: int) -> FailingSet:
    spec = Spec()
    failed = set()
    # In a run's order: the long run (``Check.last``) after every other check.
    for chk in sorted(SUITE.all(), key=lambda c: c.last):
        if chk.not_applicable(spec):
            continue
        verdict = await chk.run(Context(spec, driver, examples))
        if not verdict.passed:
            failed.add(chk.id)
    return frozenset(failed)


def in_process(app: Any, seed: int, examples: int = 100) -> FailingSet:
    """The failing checks of one in-process run of the whole suite."""

    async def run() -> FailingSet:
        async with lifespan(app) as wrapped:
            driver = AsgiDriver(wrapped, timeout=2.0)
            try:
                return await _failing(driver, examples)
            finally:
                await driver.aclose()

    with seeded(seed):
        return asyncio.run(run())


def over_network(address: str, seed: int, examples: int = 10) -> FailingSet:
    """The failing checks of one run of the whole suite against ``ws://address``."""
    from wscheck.drivers.url import UrlDriver

    async def run() -> FailingSet:
        driver = UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=0.2)
        try:
            return await _failing(driver, examples)
        finally:
            await driver.aclose()

    with seeded(seed):
        return asyncio.run(run())


@dataclass
class Result:
    target: str
    sets: collections.Counter[FailingSet]
    seconds: float
    outside_table: int = 0  # runs whose failing set the broken-app table does not allow

    @property
    def identical(self) -> bool:
        return len(self.sets) == 1

    def line(self) -> str:
        runs = sum(self.sets.values())
        verdict = "identical" if self.identical else f"{len(self.sets)} DIFFERENT failing sets"
        text = f"{self.target:40} {runs:3} runs  {self.seconds:6.1f} s  {verdict}"
        if not self.identical:
            text += "".join(f"\n    {n} x {sorted(s)}" for s, n in self.sets.most_common())
        elif self.sets:
            text += f": {sorted(next(iter(self.sets)))}"
        fixed = {frozenset(c for c in s if not c.startswith("prop.")) for s in self.sets}
        if not self.identical:
            text += ("\n    fixed checks (all but prop.*): "
                     + ("identical" if len(fixed) == 1 else f"{len(fixed)} DIFFERENT sets"))
        if self.outside_table:
            text += f"\n    {self.outside_table} runs outside the table of test_broken_apps.py"
        return text


def repeat(target: str, runs: int, first_seed: int,
           once: Callable[[int], FailingSet]) -> Result:
    start = time.monotonic()
    sets: collections.Counter[FailingSet] = collections.Counter(
        once(seed) for seed in range(first_seed, first_seed + runs))
    return Result(target, sets, time.monotonic() - start)


def mutant(name: str, runs: int, first_seed: int, examples: int) -> Result:
    from tests.test_broken_apps import EXPECTED

    app = importlib.import_module(f"tests.broken.{name}").app
    result = repeat(f"broken app {name}", runs, first_seed,
                    lambda seed: in_process(app, seed, examples))
    e = EXPECTED[name]
    result.outside_table = sum(n for s, n in result.sets.items()
                               if not (e.fails <= s <= e.fails | e.may_fail))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per in-process target")
    parser.add_argument("--network-runs", type=int, default=20, help="runs over uvicorn")
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--mutants", default=",".join(MUTANTS),
                        help="comma-separated broken apps (tests/broken)")
    parser.add_argument("--network-examples", type=int, default=10,
                        help="examples per property over the network (each costs round trips)")
    parser.add_argument("--examples", type=int, default=15,
                        help="examples per property for broken apps (as in their test)")
    args = parser.parse_args(argv)

    from reference_app import create_app
    from tests.servers import serve_uvicorn

    results = [repeat("reference app, in-process", args.runs, args.seed,
                      lambda seed: in_process(create_app(), seed))]
    print(results[-1].line(), flush=True)
    if args.network_runs:
        with serve_uvicorn(create_app()) as address:
            results.append(repeat("reference app, over uvicorn", args.network_runs,
                                  args.seed, lambda seed: over_network(address, seed,
                                                               args.network_examples)))
        print(results[-1].line(), flush=True)
    for name in filter(None, args.mutants.split(",")):
        results.append(mutant(name, args.runs, args.seed, args.examples))
        print(results[-1].line(), flush=True)
    flaky = [r.target for r in results if not r.identical or r.outside_table]
    fixed_flaky = [r.target for r in results
                   if len({frozenset(c for c in s if not c.startswith("prop."))
                           for s in r.sets}) > 1]
    print("fixed checks: " + ("identical in every run of every target" if not fixed_flaky
                              else f"NOT identical: {', '.join(fixed_flaky)}"))
    total = sum(sum(r.sets.values()) for r in results)
    print(f"\n{total} runs, {len(results)} targets: "
          + ("all verdicts identical" if not flaky else f"NOT identical: {', '.join(flaky)}"))
    return 1 if flaky else 0


if __name__ == "__main__":
    sys.exit(main())
