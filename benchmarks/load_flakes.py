"""Are the load-only defect tests deterministic? Run them many times on a loaded machine.

``tests/test_load.py::test_load_only_defect_fails_wscheck_load_with_a_replayable_example``
runs ``wscheck load`` against three servers that are wrong only under load
(``tests/load_broken.py``); each must fail on its own kind of difference, with an example
that replays. This script runs the three side by side (one pytest run, one xdist worker
each: how they meet in the kit's own test run), ``--runs`` times, while ``--hogs``
processes spin on the CPU, and prints each run's outcome, then ``failures/runs`` and one
JSON line. A run fails when any of its tests does not pass.

    python benchmarks/load_flakes.py                  # 20 runs beside 2 hogs (~10 min)
    python benchmarks/load_flakes.py --runs 3 --hogs 0
    python benchmarks/load_flakes.py --runs 2 -- -k "drops_when_crowded"   # extra pytest args

Bounded twice: each run is stopped after ``--run-limit`` seconds (a failure), and no run
starts once ``--limit`` seconds have passed (the figures say how many ran). The hogs are
stopped however the script ends. Exit status: 0 when every run passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from under_load import LoadSampler, start_hogs, stop_hogs

ROOT = Path(__file__).resolve().parent.parent

TESTS = ("tests/test_load.py::"
         "test_load_only_defect_fails_wscheck_load_with_a_replayable_example")


def outcomes(junit: Path) -> dict[str, str]:
    """Test name -> ``passed``, ``failed``, ``error`` or ``skipped``, from pytest's JUnit XML
    (empty when pytest wrote none: a run that was stopped, or that collected nothing)."""
    if not junit.is_file():
        return {}
    found: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
        found[case.get("name", "?")] = {"failure": "failed"}.get(outcome, outcome)
    return found


def one_run(pytest_args: list[str], workers: int, limit: float,
            log: Path) -> tuple[int, dict[str, str]]:
    """One pytest run of the tests; its exit status (124 when stopped) and outcomes. The
    output of a run that did not pass is kept in ``log``."""
    with tempfile.TemporaryDirectory(prefix="load-flakes-") as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-m", "slow or not slow", "-n", str(workers), f"--junitxml={junit}",
                   TESTS, *pytest_args]
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            output, _ = process.communicate(timeout=limit)
            status = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=30)
            status = 124
        found = outcomes(junit)
    if status != 0:
        log.write_bytes(output)
        print(f"    output: {log}", flush=True)
    return status, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="pytest runs (default: 20)")
    parser.add_argument("--hogs", type=int, default=2,
                        help="CPU-bound processes beside them (default: 2)")
    parser.add_argument("--workers", type=int, default=3,
                        help="xdist workers of each run (default: 3, the tests side by side)")
    parser.add_argument("--run-limit", type=float, default=300.0,
                        help="seconds one run may take before it is stopped (default: 300)")
    parser.add_argument("--limit", type=float, default=1800.0,
                        help="no run starts after this many seconds (default: 1800)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="more pytest arguments after --")
    args = parser.parse_args(argv)
    pytest_args = [a for a in args.pytest_args if a != "--"]

    failures_by_test: collections.Counter[str] = collections.Counter()
    failed_runs = runs = 0
    seconds: list[float] = []
    hogs = start_hogs(args.hogs)
    sampler = LoadSampler()
    sampler.start()
    print(f"{args.hogs} CPU-bound processes started; {args.runs} runs of {TESTS} "
          f"{' '.join(pytest_args)} with -n {args.workers}", flush=True)
    logs = Path(tempfile.mkdtemp(prefix="load-flakes-"))
    start = time.monotonic()
    try:
        while runs < args.runs and time.monotonic() - start < args.limit:
            began = time.monotonic()
            status, found = one_run(pytest_args, args.workers, args.run_limit,
                                    logs / f"run-{runs + 1}.txt")
            seconds.append(time.monotonic() - began)
            runs += 1
            failing = sorted(name for name, outcome in found.items() if outcome != "passed")
            passed = status == 0 and bool(found) and not failing
            failed_runs += not passed
            failures_by_test.update(failing)
            print(f"run {runs}/{args.runs}: {'passed' if passed else 'FAILED'} "
                  f"(exit {status}, {len(found) - len(failing)} of {len(found)} tests passed"
                  f"{': ' + ', '.join(failing) if failing else ''}) in {seconds[-1]:.0f} s",
                  flush=True)
    finally:
        sampler.stop.set()
        stop_hogs(hogs)
    samples = sampler.samples or [os.getloadavg()[0]]
    figures = {
        "runs": runs,
        "failed_runs": failed_runs,
        "failures_by_test": dict(failures_by_test),
        "hogs": args.hogs,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "pytest_args": pytest_args,
        "seconds_total": round(time.monotonic() - start, 1),
        "seconds_per_run_max": round(max(seconds, default=0.0), 1),
        "load_1min_mean": round(sum(samples) / len(samples), 2),
        "load_1min_max": round(max(samples), 2),
    }
    print(f"\nfailures/runs: {failed_runs}/{runs} beside {args.hogs} CPU-bound processes "
          f"(load average {figures['load_1min_mean']} mean, {figures['load_1min_max']} max, "
          f"{os.cpu_count()} CPUs)")
    print(json.dumps(figures))
    return 0 if runs and not failed_runs else 1


if __name__ == "__main__":
    sys.exit(main())
