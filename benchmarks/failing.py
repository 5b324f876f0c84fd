"""How much longer a failing run takes than a passing one, one after another and side by side.

A user pays for a failing run on every broken push, so a failure must not cost much more than
a pass. For each concurrency (``--concurrency 1``, everything one after another, and the
default) and each target kind (in-process and over uvicorn), this times ``wscheck run``
against the reference app (passing) and against broken apps from ``tests/broken`` (each
failing), in the same rounds, and reports each failing run's pytest time as a ratio to the
passing run's at the same concurrency and target kind. The goal the ratios are read against
is 3x.

Usage: ``python benchmarks/failing.py [--rounds 1] [--apps a,b,...] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roundtrip import uvicorn_server
from suite import time_run

ROOT = Path(__file__).resolve().parent.parent

#: Broken apps of different kinds: a missing reply (answered late), a wrong reply, credentials,
#: a defect only concurrent clients show, unsolicited messages.
DEFAULT_APPS = ("answers_one_late", "strips_whitespace", "accepts_bad_q",
                "swaps_when_together", "ticks_every_second")

#: The ratio a failing run is read against (issue: failing runs within 3x of passing ones).
GOAL = 3.0


def measure(apps: list[str], rounds: int) -> dict[str, Any]:
    targets = {"reference": "reference_app:app",
               **{name: f"tests.broken.{name}:app" for name in apps}}
    env = {"PYTHONPATH": str(ROOT), "CI": "true"}  # derandomized: the same examples each run
    times: dict[tuple[str, str, str], list[float]] = {}
    statuses: dict[tuple[str, str, str], int] = {}
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(uvicorn_server(app)) for name, app in targets.items()}
        for _ in range(rounds):
            for concurrency in ("1", "default"):
                extra = ["--concurrency", "1"] if concurrency == "1" else []
                for name, app in targets.items():
                    for kind, target in (("in_process", ["--app", app]),
                                         ("network", ["--url", urls[name]])):
                        run = time_run(target, extra, env_extra=env)
                        key = (concurrency, kind, name)
                        times.setdefault(key, []).append(run["pytest_s"])
                        statuses[key] = run["exit_status"]
    result: dict[str, Any] = {"rounds": rounds, "goal": GOAL, "runs": []}
    for (concurrency, kind, name), seconds in sorted(times.items()):
        passing = statistics.median(times[(concurrency, kind, "reference")])
        median = statistics.median(seconds)
        result["runs"].append({
            "concurrency": concurrency, "target": kind, "app": name,
            "pytest_s": round(median, 2), "exit_status": statuses[(concurrency, kind, name)],
            "ratio_to_passing": round(median / passing, 2)})
    failing = [r for r in result["runs"] if r["app"] != "reference"]
    result["worst_ratio"] = max(r["ratio_to_passing"] for r in failing)
    result["every_broken_app_failed"] = all(r["exit_status"] == 1 for r in failing)
    return result


def table(result: dict[str, Any]) -> str:
    lines = [f"{'concurrency':<12} {'target':<11} {'app':<22} {'pytest s':>9} "
             f"{'/ passing':>10} {'exit':>5}"]
    for run in result["runs"]:
        lines.append(f"{run['concurrency']:<12} {run['target']:<11} {run['app']:<22} "
                     f"{run['pytest_s']:>9.2f} {run['ratio_to_passing']:>10.2f} "
                     f"{run['exit_status']:>5}")
    lines.append(f"worst failing / passing: {result['worst_ratio']:.2f} (goal {GOAL:g}x); "
                 f"every broken app failed: {result['every_broken_app_failed']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--apps", default=",".join(DEFAULT_APPS),
                        help="broken apps of tests/broken, comma-separated")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    apps = [a for a in args.apps.split(",") if a]
    if args.rounds < 1 or not apps:
        parser.error("--rounds must be at least 1 and --apps name at least one app")
    missing = [a for a in apps if not (ROOT / "tests" / "broken" / f"{a}.py").is_file()]
    if missing:
        parser.error(f"--apps: no such broken app in tests/broken: {', '.join(missing)}")
    result = measure(apps, args.rounds)
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0 if result["every_broken_app_failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
