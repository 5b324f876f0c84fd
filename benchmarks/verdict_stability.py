"""Does a broken app get the same verdict in every run, in the default (random) profile?

    python benchmarks/verdict_stability.py                       # every broken app, 20 runs
    python benchmarks/verdict_stability.py --runs 5 token_regex escapes_html

Runs the whole suite in-process against each broken app of ``tests/broken`` ``--runs`` times,
scheduled as ``wscheck run`` schedules it, with the properties drawing from a fresh seed each
run (the ``wscheck`` profile, not derandomized, no example database: what a user gets), and
the generated examples and idle watch of ``tests/test_broken_apps.py``. An app is *stable*
when every run fails the same set of checks; the report lists each unstable app with the
sets it got and how often, and for every app whether each run stayed inside its row of the
table (every check it must fail failed; nothing else failed but its "may fail" properties).
Exit status 1 when an app is unstable or strayed from the table.

Fixed cases must find every class of defect every time; properties are for what nobody
listed. A "may fail" property that fails in some runs and not others is reported as such
(it is what "may" means), but the checks an app must fail must fail in every run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from flake import seeded  # noqa: E402

from tests.test_broken_apps import EXAMPLES, EXPECTED, SHORT_WATCH, TIME_DEFECTS  # noqa: E402
from tests.verdicts import _outcomes, run_checks  # noqa: E402
from wscheck.core.spec import Spec  # noqa: E402
from wscheck.drivers.asgi import AsgiDriver, lifespan  # noqa: E402

FailingSet = frozenset[str]


async def _failing_once(app: object, idle_watch: float) -> tuple[FailingSet, FailingSet]:
    """One run of the suite: the checks that failed, and those that were inconclusive."""
    async with lifespan(app) as wrapped:  # type: ignore[arg-type]
        driver = AsgiDriver(wrapped, timeout=2.0)
        try:
            outcomes = _outcomes(await run_checks(driver, Spec(), EXAMPLES,
                                                  idle_watch=idle_watch, randomized=True))
        finally:
            await driver.aclose()
    return (frozenset(k for k, v in outcomes.items() if v == "fail"),
            frozenset(k for k, v in outcomes.items() if v == "inconclusive"))


def stability(name: str, runs: int, first_seed: int) -> dict[str, object]:
    """``runs`` runs of broken app ``name``: the distinct failing sets and their counts."""
    app = importlib.import_module(f"tests.broken.{name}").app
    idle_watch = TIME_DEFECTS.get(name, SHORT_WATCH)
    expect = EXPECTED[name]
    seen: collections.Counter[tuple[FailingSet, FailingSet]] = collections.Counter()
    strayed = 0
    started = time.monotonic()
    for run in range(runs):
        with seeded(first_seed + run):
            try:
                failed, unseen = asyncio.run(_failing_once(app, idle_watch))
            except Exception as exc:  # a run that ends in an error is a verdict too: shown
                failed, unseen = frozenset({f"error: {type(exc).__name__}: {exc}"[:200]}), \
                    frozenset()
        seen[(failed, unseen)] += 1
        if (not expect.fails <= failed or failed - expect.fails - expect.may_fail
                or unseen != expect.inconclusive):
            strayed += 1
    sure = frozenset.intersection(*(f for f, _ in seen))
    return {
        "app": name,
        "runs": runs,
        "seconds": round(time.monotonic() - started, 1),
        "stable": len(seen) == 1,
        # Unstable only in "may fail" properties: the fixed verdicts held every run.
        "fixed_stable": len({f - expect.may_fail for f, _ in seen}) == 1
                        and len({u for _, u in seen}) == 1,
        "strayed_runs": strayed,
        "always_failed": sorted(sure),
        "sets": [{"failed": sorted(f), "inconclusive": sorted(u), "count": n}
                 for (f, u), n in seen.most_common()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="*", help="broken apps (default: every one)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="the first run's seed")
    parser.add_argument("--json", action="store_true", help="one JSON line per app too")
    args = parser.parse_args(argv)
    unknown = [a for a in args.apps if a not in EXPECTED]
    if unknown or args.runs < 1:
        print(f"verdict_stability: unknown broken app(s) {unknown}" if unknown
              else "verdict_stability: --runs must be at least 1", file=sys.stderr)
        return 4
    bad = 0
    for name in args.apps or sorted(EXPECTED):
        report = stability(name, args.runs, args.seed)
        status = ("stable" if report["stable"] else
                  "stable fixed checks, may-fail properties vary" if report["fixed_stable"]
                  else "UNSTABLE")
        print(f"{name:32} {report['runs']:3} runs {report['seconds']:7.1f}s  {status}"
              f"  strayed from the table: {report['strayed_runs']}", flush=True)
        if not report["stable"]:
            for entry in report["sets"]:  # type: ignore[attr-defined]
                print(f"    {entry['count']:3}x failed {entry['failed']}"
                      f" inconclusive {entry['inconclusive']}", flush=True)
        if args.json:
            print(json.dumps(report), flush=True)
        if not report["fixed_stable"] or report["strayed_runs"]:
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
