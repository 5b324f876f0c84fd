"""How long the bundled suite takes in-process and over the network, in the same run.

Starts the reference app under uvicorn in a child process on a free 127.0.0.1 port, then
times ``wscheck run`` (in-process) and ``wscheck run --url`` against it, ``--rounds`` times
each, alternating, so that both see the same machine load. Reported per target: the pytest
time from its summary line (``... in 5.52s``) and the wall time (start-up included), the
median over the rounds, and the ratio network / in-process. Absolute seconds depend on the
machine; the ratio, measured within one run, is the figure to compare.

``--baseline DIR`` times the same two runs of another checkout of the kit too (say the
commit before a change, from ``git archive``), on the same server and in the same rounds: a
before/after within one run. Extra arguments after ``--`` go to every run (e.g.
``-- --concurrency 1`` for the sequential behaviour). Prints a table, then with ``--json`` one
JSON line.

``--slow-app SECONDS`` times instead one run in-process and one over the network (under
uvicorn) against a correct app whose every reply waits that long (``benchmarks/slow_app.py``),
next to the floor no schedule can beat: the longest single conversation of the suite
(``echo.stays-open``, 300 replies) at that delay; with ``--baseline DIR`` the other
checkout's two runs too.

Usage: ``python benchmarks/suite.py [--rounds 3] [--baseline DIR] [--slow-app SECONDS]
[--json] [-- EXTRA...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roundtrip import uvicorn_server

#: pytest's summary line: "== 57 passed, 3 skipped in 5.52s ==" (or "in 65.21s (0:01:05)").
SUMMARY = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")

#: Longest a single suite run may take before the benchmark gives up on it.
RUN_DEADLINE = 600.0


def time_run(target: list[str], extra: list[str], kit: Path | None = None,
             env_extra: dict[str, str] | None = None,
             files: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Run ``wscheck run`` once on ``target`` (with the kit in ``kit``, default the installed
    one) from an empty directory (``files`` copied into it: an app to ``--app``); its pytest
    time, wall time and exit status."""
    env = {**os.environ, **(env_extra or {})}
    if kit is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(kit), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as empty:
        for file in files:  # not benchmarks/ itself: its xdist.py would shadow pytest-xdist
            shutil.copy(file, empty)
        args = [sys.executable, "-m", "wscheck", "run", *target, *extra]
        start = time.perf_counter()
        done = subprocess.run(args, cwd=empty, capture_output=True, text=True,
                              timeout=RUN_DEADLINE, check=False, env=env)
        wall = time.perf_counter() - start
    found = SUMMARY.findall(done.stdout)
    if not found:
        raise RuntimeError(f"no pytest summary line in the output of {' '.join(args)}:\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"pytest_s": float(found[-1]), "wall_s": wall, "exit_status": done.returncode,
            "summary": done.stdout.strip().splitlines()[-1]}


def measure(rounds: int, extra: list[str], baseline: Path | None = None) -> dict[str, Any]:
    kits: dict[str, Path | None] = {"": None}
    if baseline is not None:
        kits["baseline_"] = baseline
    runs: dict[str, list[dict[str, Any]]] = {
        f"{prefix}{name}": [] for prefix in kits for name in ("in_process", "network")}
    with uvicorn_server() as url:
        for _ in range(rounds):
            for prefix, kit in kits.items():
                runs[f"{prefix}in_process"].append(time_run([], extra, kit))
                runs[f"{prefix}network"].append(time_run(["--url", url], extra, kit))
    result: dict[str, Any] = {"rounds": rounds, "extra": extra,
                              "baseline": str(baseline) if baseline else None}
    for name, timings in runs.items():
        for key in ("pytest_s", "wall_s"):
            result[f"{name}_{key}"] = round(statistics.median(t[key] for t in timings), 2)
        result[f"{name}_exit_status"] = sorted({t["exit_status"] for t in timings})
        result[f"{name}_summary"] = timings[-1]["summary"]
    for prefix in kits:
        for key in ("pytest_s", "wall_s"):
            result[f"{prefix}ratio_{key}"] = round(
                result[f"{prefix}network_{key}"] / result[f"{prefix}in_process_{key}"], 2)
    return result


#: Replies on the longest single conversation of the suite (echo.stays-open), the accept's
#: answer aside: the floor of a run against an app that is slow on every reply.
LONGEST_CONVERSATION = 300


def measure_slow(delay: float, extra: list[str],
                 baseline: Path | None = None) -> dict[str, Any]:
    """One in-process and one network run against ``benchmarks/slow_app.py`` with ``delay``
    seconds per reply (and the baseline kit's, when given)."""
    env = {"WSCHECK_SLOW_REPLY": str(delay)}
    os.environ["WSCHECK_SLOW_REPLY"] = str(delay)  # for the server's process too
    floor = LONGEST_CONVERSATION * delay
    result: dict[str, Any] = {"slow_reply_s": delay, "longest_conversation_s": floor,
                              "baseline": str(baseline) if baseline else None}
    kits: dict[str, Path | None] = {"": None}
    if baseline is not None:
        kits["baseline_"] = baseline
    app = Path(__file__).resolve().parent / "slow_app.py"
    with uvicorn_server("slow_app:app") as url:
        for prefix, kit in kits.items():
            for name, target, files in (("in_process", ["--app", "slow_app:app"], (app,)),
                                        ("network", ["--url", url], ())):
                run = time_run(target, extra, kit, env_extra=env, files=files)
                key = f"{prefix}slow_{name}"
                result[f"{key}_pytest_s"] = run["pytest_s"]
                result[f"{key}_wall_s"] = round(run["wall_s"], 2)
                result[f"{key}_exit_status"] = run["exit_status"]
                result[f"{key}_summary"] = run["summary"]
                result[f"{key}_ratio_to_longest"] = round(run["pytest_s"] / floor, 2)
    return result


def slow_table(result: dict[str, Any]) -> str:
    lines = [f"slow app ({result['slow_reply_s']:g}s per reply); longest single conversation "
             f"(echo.stays-open, {LONGEST_CONVERSATION} replies): "
             f"{result['longest_conversation_s']:.2f}s",
             f"{'kit and target':<30} {'pytest s':>9} {'/ longest':>10}   summary"]
    for prefix in ("", "baseline_") if result.get("baseline") else ("",):
        for name in ("in_process", "network"):
            key = f"{prefix}slow_{name}"
            lines.append(f"{prefix + name:<30} {result[key + '_pytest_s']:>9.2f} "
                         f"{result[key + '_ratio_to_longest']:>10.2f}   "
                         f"{result[key + '_summary']}")
    return "\n".join(lines)


def table(result: dict[str, Any]) -> str:
    lines = [f"{'target':<21} {'pytest s':>9} {'wall s':>8}   summary"]
    prefixes = ["", "baseline_"] if result.get("baseline") else [""]
    for prefix in prefixes:
        for name in (f"{prefix}in_process", f"{prefix}network"):
            lines.append(f"{name:<21} {result[f'{name}_pytest_s']:>9.2f} "
                         f"{result[f'{name}_wall_s']:>8.2f}   {result[f'{name}_summary']}")
        lines.append(f"{prefix + 'ratio':<21} {result[prefix + 'ratio_pytest_s']:>9.2f} "
                     f"{result[prefix + 'ratio_wall_s']:>8.2f}   network / in-process "
                     f"(median of {result['rounds']} rounds)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="another checkout of the kit, timed in the same rounds")
    parser.add_argument("--slow-app", type=float, default=None, metavar="SECONDS",
                        help="time runs against a correct app this slow per reply")
    parser.add_argument("extra", nargs="*", help="arguments for every `wscheck run`")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.baseline is not None and not (args.baseline / "wscheck" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no checkout of the kit there (no wscheck/)")
    if args.slow_app is not None:
        if not 0 < args.slow_app <= 10:
            parser.error("--slow-app must be more than 0 and at most 10 seconds")
        result = measure_slow(args.slow_app, args.extra, args.baseline)
        print(slow_table(result))
        if args.json:
            print(json.dumps(result))
        return 0
    result = measure(args.rounds, args.extra, args.baseline)
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
