"""``wscheck load``: Locust, headless, with wscheck's users, and wscheck's verdict.

Locust runs as a child process (``python -m locust -f wscheck/load/locustfile.py``) because
it monkey-patches the standard library for gevent when imported, and because its own
``--processes`` (one master, forked workers) lives in its command-line entry point. The child
writes the verdict as JSON when it quits (``--wscheck-summary``); this process reads it for
the exit status: 0 when every transcript matched, 1 otherwise (or when Locust did not
finish), 4 for bad options.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from wscheck.config.settings import BY_NAME, MAX_SECONDS
from wscheck.core.spec import Spec, load_spec
from wscheck.errors import (
    EXIT_FAILED,
    EXIT_USAGE,
    SettingError,
    UnspecifiedBehaviour,
    UsageError,
)
from wscheck.load.workload import (
    Workload,
    read_conversations,
    verdict_status,
    write_conversations,
)

__all__ = ["LoadOptions", "main", "parse_options"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

#: Seconds Locust may take beyond ``--run-time`` (start-up, drawing conversations, stopping,
#: printing) before it is killed: nothing hangs.
GRACE = 60.0

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class LoadOptions:
    """Everything ``wscheck load`` was asked for, validated."""

    url: str
    users: int
    spawn_rate: float
    run_time: float  # seconds
    processes: int | None
    spec: str | None
    timeout: float
    quiet_window: float
    long_messages: bool
    seed: int | None
    replay: str | None
    report: str | None
    csv: str | None
    html: str | None
    ca_file: str | None = None


class _Parser(argparse.ArgumentParser):
    """argparse, except that a bad option is a :class:`SettingError` (one line, exit 4)
    instead of a usage dump and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise SettingError(message)


def _seconds(text: str) -> float:
    """``90``, ``90s``, ``1m30s``, ``1h``: Locust's own ``--run-time`` forms."""
    match = _DURATION.fullmatch(text)
    if text.isdigit():
        return float(text)
    if not text or match is None:
        raise ValueError(text)
    h, m, s = (int(g or 0) for g in match.groups())
    return float(h * 3600 + m * 60 + s)


def parse_options(argv: Sequence[str]) -> LoadOptions:
    """The options of ``wscheck load``; :class:`SettingError` names the flag that is wrong.

    Kept to this one function so that it can be folded into the kit's settings table.
    """
    parser = _Parser(prog="wscheck load", description=(
        "Run conversations from wscheck's generators against a server under load with Locust "
        "and check every transcript against the model. Exit status: 0 every transcript "
        "matched, 1 one differed (or nothing ran), 4 bad options."))
    add = parser.add_argument
    add("--url", required=True, metavar="ws://HOST:PORT[/prefix]", help="server to load")
    add("--users", type=int, default=10, metavar="N", help="simulated users (default: 10)")
    add("--spawn-rate", type=float, metavar="R", help="users started per second "
        "(default: all at once)")
    add("--run-time", default="10s", metavar="T", help="how long: 30, 30s, 2m, 1h30m "
        "(default: 10s)")
    add("--processes", type=int, metavar="K", help="Locust worker processes on this machine "
        "(-1: one per CPU; default: one process, no master)")
    add("--spec", metavar="FILE.toml", help="protocol description (default: reference)")
    add("--timeout", default="10", metavar="SECONDS",
        help="deadline of any single wait (default: 10)")
    add("--quiet-window", type=float, default=0.1, metavar="SECONDS",
        help="listen this long for anything unexpected after each conversation "
             "(default: 0.1)")
    add("--long-messages", action="store_true", help="keep the 64 KiB messages the echo "
        "generator draws now and then")
    add("--seed", type=int, metavar="N", help="seed of the conversation generators")
    add("--replay", metavar="FILE.json", help="run only this conversation (a failing run "
        "writes one per kind of difference and prints the command)")
    add("--ca-file", metavar="FILE.pem", help="CA bundle to trust for wss:// (default: the "
        "system's CAs)")
    add("--report", metavar="FILE.json", help="write the verdict as JSON")
    add("--csv", metavar="PREFIX", help="Locust's CSV statistics (PREFIX_stats.csv, ...)")
    add("--html", metavar="FILE.html", help="Locust's HTML report")
    args = parser.parse_args(list(argv))
    # What wscheck load shares with a suite run is checked by the settings table's own
    # parsers, so that both refuse the same values in the same words.
    url = _shared("url", "--url", args.url)
    timeout = _shared("timeout", "--timeout", args.timeout)
    ca_file = _shared("ca_file", "--ca-file", args.ca_file)
    report = _shared("report", "--report", args.report)
    html = _shared("html", "--html", args.html)
    if args.users < 1:
        raise SettingError(f"--users must be at least 1, got {args.users}")
    spawn_rate = float(args.users) if args.spawn_rate is None else args.spawn_rate
    if not (math.isfinite(spawn_rate) and spawn_rate > 0):
        raise SettingError(f"--spawn-rate must be more than 0, got {args.spawn_rate}")
    try:
        run_time = _seconds(args.run_time)
    except ValueError:
        raise SettingError(f"--run-time must be seconds or a duration like 30s, 2m, 1h30m, "
                           f"got {args.run_time!r}") from None
    if run_time <= 0:
        raise SettingError(f"--run-time must be more than 0, got {args.run_time!r}")
    if args.processes is not None and (args.processes == 0 or args.processes < -1):
        raise SettingError(f"--processes must be at least 1 (or -1 for one per CPU), got "
                           f"{args.processes}")
    if not (math.isfinite(args.quiet_window) and 0 <= args.quiet_window <= MAX_SECONDS):
        raise SettingError(f"--quiet-window must be 0 or more seconds, at most "
                           f"{MAX_SECONDS:g}, got {args.quiet_window}")
    for flag, value in (("--spec", args.spec), ("--replay", args.replay)):
        if value is not None and not Path(value).is_file():
            raise SettingError(f"{flag}: no such file: {value}")
    return LoadOptions(url, args.users, spawn_rate, run_time, args.processes, args.spec,
                       timeout, args.quiet_window, args.long_messages, args.seed,
                       args.replay, report, args.csv, html, ca_file)


def _shared(name: str, flag: str, raw: object) -> Any:
    """A value of a setting the suite has too, checked by the settings table's parser."""
    if raw is None:
        return None
    parse = BY_NAME[name].parse
    assert parse is not None
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingError(f"{flag} {exc}") from None


def _read_files(options: LoadOptions) -> Spec:
    """The spec, and a check that the replayed conversation is one it can judge: a bad file
    is a usage error here, one line, instead of an exception in every Locust worker."""
    spec = load_spec(options.spec) if options.spec else Spec()  # SpecError is a UsageError
    if options.replay:
        try:
            Workload.of(spec, read_conversations(Path(options.replay)))
        except (ValueError, UnicodeDecodeError, UnspecifiedBehaviour) as exc:
            raise SettingError(f"--replay: {options.replay} is not a conversation this "
                               f"spec can judge: {exc}") from None
    return spec


def _conversations(options: LoadOptions, spec: Spec, into: Path) -> Path:
    """The conversations every Locust process draws from, as a file: the replayed one, or a
    pool drawn here once from the kit's generators (rather than in each process, where it
    would cost every worker a few seconds of its run)."""
    if options.replay:
        return Path(options.replay).resolve()
    workload = Workload.generate(spec, long_messages=options.long_messages, seed=options.seed)
    write_conversations(into, workload.conversations())
    return into


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locust_command(options: LoadOptions, conversations: Path, summary: Path) -> list[str]:
    """The Locust command line that runs ``options`` headless on ``conversations`` and
    writes the verdict to ``summary``."""
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", options.url, "--users", str(options.users),
        "--spawn-rate", f"{options.spawn_rate:g}", "--run-time", f"{int(options.run_time)}s",
        "--stop-timeout", "0", "--loglevel", "WARNING",
        "--wscheck-timeout", f"{options.timeout:g}",
        "--wscheck-quiet-window", f"{options.quiet_window:g}",
        "--wscheck-summary", str(summary), "--wscheck-conversations", str(conversations),
    ]
    if options.processes is not None:
        # A port of its own, so that two runs on one machine do not meet on Locust's 5557.
        port = str(_free_port())
        command += ["--processes", str(options.processes), "--master-bind-host", "127.0.0.1",
                    "--master-bind-port", port, "--master-host", "127.0.0.1",
                    "--master-port", port]
    if options.spec:
        command += ["--wscheck-spec", str(Path(options.spec).resolve())]
    if options.ca_file:
        command += ["--wscheck-ca-file", str(Path(options.ca_file).resolve())]
    if options.csv:
        command += ["--csv", options.csv]
    if options.html:
        command += ["--html", options.html]
    return command


def _reachable(url: str, timeout: float) -> str | None:
    """Why nothing can be loaded at ``url`` (nothing listening, no such host), or None.

    One TCP connect before Locust starts, so that a wrong address is one line rather than
    thousands of identical mismatches; like the suite, a target that does not answer at all
    stops the run once (exit 1)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return (exc.strerror or str(exc) or type(exc).__name__).lower()


def run(options: LoadOptions) -> int:
    """Run Locust for ``options``, streaming its output, and return the exit status."""
    spec = _read_files(options)
    problem = _reachable(options.url, options.timeout)
    if problem is not None:
        print(f"wscheck load: nothing answers at {options.url} ({problem}); no load was "
              "started", file=sys.stderr)
        return EXIT_FAILED
    with tempfile.TemporaryDirectory(prefix="wscheck-load-") as tmp:
        conversations = _conversations(options, spec, Path(tmp) / "conversations.json")
        summary_path = Path(tmp) / "summary.json"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(locust_command(options, conversations, summary_path),
                                   env=env, stdin=subprocess.DEVNULL)
        try:
            process.wait(options.run_time + GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            print(f"wscheck load: Locust did not finish within {options.run_time + GRACE:g} s "
                  "and was stopped", file=sys.stderr)
            return EXIT_FAILED
        if not summary_path.is_file():
            print(f"wscheck load: Locust exited with status {process.returncode} without a "
                  "verdict (its output above says why)", file=sys.stderr)
            return EXIT_FAILED
        result = json.loads(summary_path.read_text(encoding="utf-8"))
    if options.report:
        Path(options.report).write_text(json.dumps(result, ensure_ascii=False, indent=1),
                                        encoding="utf-8")
    return verdict_status(result)


def main(argv: Sequence[str]) -> int:
    """Entry point of ``wscheck load``; returns the exit status."""
    try:
        options = parse_options(argv)
        if importlib.util.find_spec("locust") is None:
            raise UsageError("wscheck load runs on Locust, which is not installed: "
                             "pip install 'pytest-wscheck[load]'")
        return run(options)
    except UsageError as exc:
        print(f"wscheck load: {exc}", file=sys.stderr)
        return EXIT_USAGE
