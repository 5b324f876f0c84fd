"""The kit's own tests on a loaded machine: ``python -m pytest`` beside CPU-bound processes.

The tests must pass on a machine that runs other work (a CI runner's neighbours, a developer's
build): no test may assert a wall-clock bound that such load breaks. This script proves it by
running the test command while ``--hogs`` processes (default 2, one per core of a 2-core
machine) spin on the CPU, and prints the outcome, the wall time and the load average seen
during the run, then one JSON line.

Usage: ``python benchmarks/under_load.py [--hogs 2] [--limit SECONDS] [-- PYTEST ARGS]``;
without pytest arguments it runs the default test command (``-q -p no:cacheprovider``).
Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: A CPU-bound process: a busy loop, ended by the script.
HOG = "while True:\n    pass\n"


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
    for hog in hogs:
        hog.wait(10)


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average every few seconds while the tests run."""

    def __init__(self, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside it")
    parser.add_argument("--limit", type=float, default=3600.0,
                        help="seconds the test run may take before it is stopped")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="arguments for pytest after --")
    args = parser.parse_args(argv)
    pytest_args = [a for a in args.pytest_args if a != "--"] or ["-q", "-p", "no:cacheprovider"]
    command = [sys.executable, "-m", "pytest", *pytest_args]

    hogs = start_hogs(args.hogs)
    sampler = LoadSampler()
    sampler.start()
    print(f"{args.hogs} CPU-bound processes started; running: {' '.join(command[1:])}",
          flush=True)
    start = time.monotonic()
    try:
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        try:
            status = process.wait(args.limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            print(f"the test run did not end within {args.limit:g} s and was stopped",
                  file=sys.stderr)
            status = 124
    finally:
        elapsed = time.monotonic() - start
        sampler.stop.set()
        stop_hogs(hogs)
    samples = sampler.samples or [os.getloadavg()[0]]
    figures = {
        "hogs": args.hogs,
        "cpus": os.cpu_count(),
        "pytest_args": pytest_args,
        "exit_status": status,
        "seconds": round(elapsed, 1),
        "load_1min_mean": round(sum(samples) / len(samples), 2),
        "load_1min_max": round(max(samples), 2),
    }
    print(f"\npytest exit status {status} in {elapsed:.0f} s beside {args.hogs} CPU-bound "
          f"processes (load average {figures['load_1min_mean']} mean, "
          f"{figures['load_1min_max']} max, {os.cpu_count()} CPUs)")
    print(json.dumps(figures))
    return status


if __name__ == "__main__":
    sys.exit(main())
