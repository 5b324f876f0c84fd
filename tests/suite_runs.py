"""``wscheck run`` in subprocesses, several at once: each run's verdict table from its JSON
report, so that a test can compare whole runs (side by side against one after another)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def verdict_tables(runs: list[list[str]], workdir: Path,
                   timeout: float = 300.0) -> list[dict[str, str]]:
    """Every check's verdict from each ``wscheck run ARGS`` in ``runs``, all started at once
    (each against its own target, so that they cannot see each other), derandomized."""
    started = []
    for number, args in enumerate(runs):
        report = workdir / f"report{number}.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "wscheck", "run", "--report", str(report), *args],
            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL, env={**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)})
        started.append((process, report))
    tables = []
    try:
        for process, report in started:
            output, _ = process.communicate(timeout=timeout)
            assert process.returncode in (0, 1), output[-3000:]
            tables.append({c["id"]: c["verdict"]
                           for c in json.loads(report.read_text())["checks"]})
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    return tables
