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
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from wscheck.config.settings import (
    TABLE,
    Given,
    LoadSettings,
    load_options,
    resolve_load,
)
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

__all__ = ["locust_command", "main", "parse_options"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")

#: Seconds Locust may take beyond ``--run-time`` (start-up, drawing conversations, stopping,
#: printing) before it is killed: nothing hangs.
GRACE = 60.0

DESCRIPTION = (
    "Run conversations from wscheck's generators against a server under load with Locust "
    "and check every transcript against the model. Exit status: 0 every transcript matched, "
    "1 one differed (or nothing ran), 4 bad options.")


class _Parser(argparse.ArgumentParser):
    """argparse, except that a bad option is a :class:`SettingError` (one line, exit 4)
    instead of a usage dump and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise SettingError(message)


def _parser() -> _Parser:
    """The options, generated from the settings table's rows that ``wscheck load`` takes.
    Values stay text here: the table's parsers check them."""
    parser = _Parser(prog="wscheck load", description=DESCRIPTION)
    for setting in load_options():
        help = setting.load_help or setting.help
        if setting.switch:
            parser.add_argument(setting.flag, dest=setting.name, action="store_true",
                                help=help)
        else:
            parser.add_argument(setting.flag, dest=setting.name, metavar=setting.metavar,
                                help=help)
    return parser


def _unrecognized(extra: Sequence[str]) -> SettingError:
    """Arguments no option takes; a suite run's flag is named as such."""
    flag = extra[0].split("=", 1)[0]
    if flag == "--html":
        return SettingError("--html is wscheck run's HTML report: Locust's own is "
                            "--locust-html FILE.html")
    if any(flag == s.cli_flag for s in TABLE):
        return SettingError(f"{flag} is an option of `wscheck run`, not of `wscheck load` "
                            "(`wscheck load --help` lists its options)")
    return SettingError(f"unrecognized arguments: {' '.join(extra)} (`wscheck load --help` "
                        "lists the options)")


def parse_options(argv: Sequence[str]) -> LoadSettings:
    """The options of ``wscheck load``, checked by the settings table as a suite run's are;
    :class:`SettingError` names the flag that is wrong."""
    args, extra = _parser().parse_known_args(list(argv))
    if extra:
        raise _unrecognized(extra)
    given = {s.name: Given(getattr(args, s.name), s.flag) for s in load_options()}
    return resolve_load(given, rootdir=Path.cwd())


def _check_replay(options: LoadSettings) -> None:
    """The replayed conversation is one the spec can judge: a bad file is a usage error
    here, one line, instead of an exception in every Locust worker."""
    if options.replay:
        try:
            Workload.of(options.settings.spec, read_conversations(Path(options.replay)))
        except (ValueError, UnicodeDecodeError, UnspecifiedBehaviour) as exc:
            raise SettingError(f"--replay: {options.replay} is not a conversation this "
                               f"spec can judge: {exc}") from None


def _conversations(options: LoadSettings, into: Path) -> Path:
    """The conversations every Locust process draws from, as a file: the replayed one, or a
    pool drawn here once from the kit's generators (rather than in each process, where it
    would cost every worker a few seconds of its run)."""
    if options.replay:
        return Path(options.replay).resolve()
    workload = Workload.generate(options.settings.spec, long_messages=options.long_messages,
                                 seed=options.seed)
    write_conversations(into, workload.conversations())
    return into


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locust_command(options: LoadSettings, conversations: Path, summary: Path) -> list[str]:
    """The Locust command line that runs ``options`` headless on ``conversations`` and
    writes the verdict to ``summary``."""
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", options.url, "--users", str(options.users),
        "--spawn-rate", f"{options.spawn_rate:g}", "--run-time", f"{int(options.run_time)}s",
        "--stop-timeout", "0", "--loglevel", "WARNING",
        "--wscheck-timeout", f"{options.settings.timeout:g}",
        "--wscheck-quiet-window", f"{options.settings.quiet_window:g}",
        "--wscheck-summary", str(summary), "--wscheck-conversations", str(conversations),
    ]
    if options.processes is not None:
        # A port of its own, so that two runs on one machine do not meet on Locust's 5557.
        port = str(_free_port())
        command += ["--processes", str(options.processes), "--master-bind-host", "127.0.0.1",
                    "--master-bind-port", port, "--master-host", "127.0.0.1",
                    "--master-port", port]
    if options.spec_file:
        command += ["--wscheck-spec", str(Path(options.spec_file).resolve())]
    if options.settings.ca_file:
        command += ["--wscheck-ca-file", str(Path(options.settings.ca_file).resolve())]
    if options.csv:
        command += ["--csv", options.csv]
    if options.locust_html:
        command += ["--html", options.locust_html]
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


def run(options: LoadSettings) -> int:
    """Run Locust for ``options``, streaming its output, and return the exit status."""
    _check_replay(options)
    problem = _reachable(options.url, options.settings.timeout)
    if problem is not None:
        print(f"wscheck load: nothing answers at {options.url} ({problem}); no load was "
              "started", file=sys.stderr)
        return EXIT_FAILED
    with tempfile.TemporaryDirectory(prefix="wscheck-load-") as tmp:
        conversations = _conversations(options, Path(tmp) / "conversations.json")
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
    if options.settings.report:
        Path(options.settings.report).write_text(json.dumps(result, ensure_ascii=False, indent=1),
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
