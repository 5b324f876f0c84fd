"""The rfc6455 suite's time against a local uvicorn, next to the chat suite's in the same run.

Both suites run as users run them (``wscheck run --url``, from an empty directory) against
uvicorn child processes started here: the rfc6455 suite against a plain echo endpoint
(``tests/rfc6455/echo_app.py``, uvicorn's default WebSocket implementation), the chat suite
against the reference app. Reported: each run's pytest time (median over the rounds), the
ratio rfc6455/chat measured in the same rounds, and the goal (the whole rfc6455 suite under
10 s; Autobahn|Testsuite's core server cases take minutes).

Usage: ``python benchmarks/rfc6455.py [--rounds 3] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roundtrip import uvicorn_server
from suite import time_run

#: Seconds the whole rfc6455 suite should take against a local uvicorn.
GOAL_SECONDS = 10.0


def measure(rounds: int) -> dict[str, Any]:
    env = {"CI": "true", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    times: dict[str, list[float]] = {"rfc6455": [], "chat": []}
    statuses: dict[str, int] = {}
    summaries: dict[str, str] = {}
    with uvicorn_server("tests.rfc6455.echo_app:app") as echo, uvicorn_server() as chat:
        for _ in range(rounds):
            for suite, url in (("rfc6455", echo), ("chat", chat)):
                run = time_run(["--url", url, "--suite", suite], [], env_extra=env)
                times[suite].append(run["pytest_s"])
                statuses[suite] = run["exit_status"]
                summaries[suite] = run["summary"]
    rfc = statistics.median(times["rfc6455"])
    chat_s = statistics.median(times["chat"])
    return {"rounds": rounds, "rfc6455_pytest_s": round(rfc, 2),
            "chat_pytest_s": round(chat_s, 2), "rfc6455_vs_chat": round(rfc / chat_s, 3),
            "goal_s": GOAL_SECONDS, "rfc6455_exit_status": statuses["rfc6455"],
            "chat_exit_status": statuses["chat"], "rfc6455_summary": summaries["rfc6455"],
            "chat_summary": summaries["chat"]}


def table(result: dict[str, Any]) -> str:
    met = "met" if result["rfc6455_pytest_s"] < result["goal_s"] else "missed"
    return "\n".join([
        "| suite | pytest time (median) | exit status | summary |",
        "| --- | --- | --- | --- |",
        f"| rfc6455 (echo endpoint) | {result['rfc6455_pytest_s']:.2f} s | "
        f"{result['rfc6455_exit_status']} | {result['rfc6455_summary']} |",
        f"| chat (reference app) | {result['chat_pytest_s']:.2f} s | "
        f"{result['chat_exit_status']} | {result['chat_summary']} |",
        "",
        f"rfc6455 / chat: {result['rfc6455_vs_chat']:.2f}; goal: rfc6455 under "
        f"{result['goal_s']:g} s ({met})",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="the figures as JSON, last line")
    args = parser.parse_args()
    result = measure(max(1, args.rounds))
    print(table(result))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
