"""The conformance suite under pytest-xdist: same verdicts, and how much faster at 2 workers.

Runs ``pytest --wscheck-app reference_app:app`` and ``pytest --wscheck-url ws://...`` (the
reference app under uvicorn in a child process), each without xdist and with ``-n 2``, in an
empty directory (the plugin adds its suite with a target), and compares every check's
outcome from the JUnit XML. Prints a table, then one JSON line.

Usage: ``python benchmarks/xdist.py [--workers 2] [--examples N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roundtrip import ROOT, uvicorn_server


def _outcomes(junit: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        result[name] = outcome
    return result


def run_suite(target: list[str], workers: int, extra: list[str]) -> tuple[float, dict[str, str]]:
    with tempfile.TemporaryDirectory() as empty:
        junit = Path(empty) / "junit.xml"
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *target,
                f"--junitxml={junit}", *extra]
        if workers:
            args += ["-n", str(workers)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        done = subprocess.run(args, cwd=empty, env=env, capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - start
        if done.returncode not in (0, 1):
            raise RuntimeError(f"pytest exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return seconds, _outcomes(junit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--examples", type=int, help="--wscheck-examples for both runs")
    args = parser.parse_args()
    extra = [f"--wscheck-examples={args.examples}"] if args.examples else []
    result: dict[str, object] = {"workers": args.workers, "cpus": os.cpu_count()}
    rows = []
    with uvicorn_server() as url:
        for kind, target in (("asgi", ["--wscheck-app", "reference_app:app"]),
                             ("url", ["--wscheck-url", url])):
            serial, serial_outcomes = run_suite(target, 0, extra)
            parallel, parallel_outcomes = run_suite(target, args.workers, extra)
            same = serial_outcomes == parallel_outcomes
            result[f"{kind}_serial_seconds"] = serial
            result[f"{kind}_xdist_seconds"] = parallel
            result[f"{kind}_speedup"] = serial / parallel
            result[f"{kind}_checks"] = len(serial_outcomes)
            result[f"{kind}_same_verdicts"] = same
            if not same:
                result[f"{kind}_differences"] = {
                    k: (serial_outcomes.get(k), parallel_outcomes.get(k))
                    for k in set(serial_outcomes) | set(parallel_outcomes)
                    if serial_outcomes.get(k) != parallel_outcomes.get(k)}
            rows.append(f"{kind:5} {len(serial_outcomes):6} {serial:10.2f} {parallel:10.2f} "
                        f"{serial / parallel:8.2f}x {'yes' if same else 'NO'}")
    print(f"{'suite':5} {'checks':>6} {'serial s':>10} {'-n ' + str(args.workers) + ' s':>10} "
          f"{'speed-up':>9} same verdicts")
    print("\n".join(rows))
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
