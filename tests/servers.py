"""Real servers for the tests: uvicorn in a thread on a free loopback port, and hypercorn,
daphne, granian or node as subprocesses on free loopback ports.

Every server is started by the test that needs it and stopped when it is done, so the suite
needs nothing running beforehand and never touches anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    """A server running for one test: where it listens and what it logged (WARNING+)."""

    address: str  # "127.0.0.1:PORT"
    records: list[logging.LogRecord]

    def ws(self, path: str) -> str:
        return f"ws://{self.address}{path}"

    def http(self, path: str = "/") -> str:
        return f"http://{self.address}{path}"


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot own signal handlers
        pass


@contextlib.contextmanager
def serve_uvicorn(app: Any, **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields ``"127.0.0.1:PORT"``.

    ``config`` goes to :class:`uvicorn.Config` (e.g. ``ws="wsproto"``). The server is stopped
    and its thread joined on exit, with a deadline so that a wedged server fails the test
    instead of hanging it.
    """
    port = free_port()
    config.setdefault("log_level", "warning")
    config.setdefault("lifespan", "auto")
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    # uvicorn.Config applies its logging dictConfig, which strips the handlers of uvicorn's
    # loggers: put back those of any capture_logs() already active, so order does not matter.
    _reattach_captures()
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():  # pragma: no cover - only when a test wedged the server
            server.force_exit = True
            thread.join(5)


_active_captures: list[tuple[logging.Handler, list[logging.Logger]]] = []


def _reattach_captures() -> None:
    for handler, loggers in _active_captures:
        for lg in loggers:
            if handler not in lg.handlers:
                lg.addHandler(handler)


@contextlib.contextmanager
def capture_logs(*names: str) -> Iterator[list[logging.LogRecord]]:
    """Collect records at WARNING and above from the named loggers (default: uvicorn's and
    the root), so a test can assert that a server logged no error.

    It may be entered before or after :func:`serve_uvicorn` starts a server. A record that
    propagates through several of the named loggers is collected once.
    """
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not any(r is record for r in records):
                records.append(record)

    handler = _Collect(level=logging.WARNING)
    loggers = [logging.getLogger(n) for n in (names or ("", "uvicorn", "uvicorn.error",
                                                         "uvicorn.asgi"))]
    for lg in loggers:
        lg.addHandler(handler)
    entry = (handler, loggers)
    _active_captures.append(entry)
    try:
        yield records
    finally:
        _active_captures.remove(entry)
        for lg in loggers:
            lg.removeHandler(handler)


# --- other servers, as subprocesses ----------------------------------------------------------

#: The repository root: where ``tests.*`` and ``reference_app`` import from in a subprocess.
ROOT = Path(__file__).resolve().parent.parent

#: Seconds a server subprocess may take to listen, and to stop after SIGTERM.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def _venv_bin(name: str) -> str:
    """An executable installed next to this interpreter (the venv's ``bin``), else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


def server_command(server: str, target: str, port: int) -> list[str]:
    """The command line that serves ``target`` (``module:attr``) with ``server`` on
    127.0.0.1:``port``: uvicorn, hypercorn, daphne or granian (ASGI), or node (``target`` is a
    script).
    """
    if server == "uvicorn":
        return [_venv_bin("uvicorn"), target, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]
    if server == "hypercorn":
        return [_venv_bin("hypercorn"), target, "--bind", f"127.0.0.1:{port}",
                "--log-level", "warning"]
    if server == "daphne":
        return [_venv_bin("daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0", target]
    if server == "granian":
        return [_venv_bin("granian"), "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--log-level", "warning", target]
    if server == "node":
        return ["node", target, "--port", str(port)]
    if server == "python":  # a module with a --port option
        return [sys.executable, "-m", target, "--port", str(port)]
    raise ValueError(f"unknown server {server!r}")


@dataclass
class ServerProcess:
    """A server running as a subprocess: where it listens, and everything it printed."""

    server: str
    address: str  # "127.0.0.1:PORT"
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``: the process never outlives the test."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def serve_subprocess(server: str, target: str, *, cwd: Path = ROOT,
                     env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Serve ``target`` with ``server`` (see :func:`server_command`) on a free loopback port,
    as a subprocess of its own; yields a :class:`ServerProcess` once the port accepts
    connections.

    Start-up is bounded by ``START_TIMEOUT`` (a server that exits or does not listen in time
    raises ``RuntimeError`` with its output), and the process is terminated on exit whatever
    happened, killed if it does not stop.
    """
    port = free_port()
    command = server_command(server, target, port)
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), environment.get("PYTHONPATH", "")) if p)
    environment.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryDirectory(prefix=f"wscheck-{server}-") as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        running = ServerProcess(server, f"127.0.0.1:{port}", process, log_path)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _listening(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    state = ("exited with status " + str(process.returncode)
                             if process.poll() is not None else
                             f"was not listening after {START_TIMEOUT:g} s")
                    raise RuntimeError(f"{server} serving {target} on port {port} {state}; "
                                       f"its output:\n{running.log()}")
                time.sleep(0.05)
            yield running
        finally:
            _stop(process)


# --- the suite as users run it over the network: pytest --wscheck-url, in a subprocess -------

Verdict = str  # "pass" | "warn" | "fail" | "skip" (not applicable)


@dataclass(frozen=True)
class SuiteRun:
    """What ``pytest --wscheck-url`` reported: every check's verdict, its notes and, for a
    failure or a warning, its explanation; plus the exit status and the terminal output."""

    verdicts: dict[str, Verdict]
    notes: dict[str, list[str]]
    problems: dict[str, str]
    details: dict[str, str]
    returncode: int
    output: str

    def failing(self) -> set[str]:
        """The checks that failed or warned."""
        return {c for c, v in self.verdicts.items() if v in ("fail", "warn")}


#: What a suite run in a pytest process of its own does without, as ``wscheck run`` does (see
#: wscheck/cli/main.py): assertion rewriting, since the suite has no assert of its own and
#: rewriting every module of the plugins' packages (Hypothesis, anyio) costs each start 1.5 s
#: where bytecode is not written (PYTHONDONTWRITEBYTECODE); and Faker's plugin (Faker comes
#: with polyfactory, a test dependency of the Litestar app): 0.4 s of imports for a fixture
#: no suite run uses.
LEAN_PYTEST = ("--assert=plain", "-p", "no:faker")


def start_suite(url: str, workdir: Path, *args: str,
                env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``pytest --wscheck-url URL`` in ``workdir`` (an empty directory, so that nothing
    but the bundled suite is collected), writing ``report.xml`` there. ``CI=true`` makes the
    property checks derandomized and keeps Hypothesis's example database out of it."""
    environment = {**os.environ, "CI": "true", **(env or {})}
    environment.pop("PYTEST_ADDOPTS", None)
    environment.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *LEAN_PYTEST, "-q", "-rN",
               f"--wscheck-url={url}", f"--junitxml={workdir / 'report.xml'}", *args]
    return subprocess.Popen(command, cwd=workdir, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def finish_suite(process: subprocess.Popen[str], workdir: Path,
                 timeout: float = 180.0) -> SuiteRun:
    """Wait for a run started by :func:`start_suite` (killing it after ``timeout``) and read
    its JUnit report and terminal summary."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise RuntimeError(f"the suite did not finish in {timeout:g} s:\n{output}") from None
    return parse_suite(workdir / "report.xml", process.returncode, output)


_SUMMARY_LINE = re.compile(r"^(FAIL|WARN) +(\S+) \[(?:MUST|SHOULD)\]: (.*)$")


def parse_suite(report: Path, returncode: int, output: str) -> SuiteRun:
    """A :class:`SuiteRun` from a JUnit report written by the plugin and pytest's output."""
    if not report.exists():
        raise RuntimeError(f"pytest wrote no report (exit status {returncode}):\n{output}")
    verdicts: dict[str, Verdict] = {}
    notes: dict[str, list[str]] = {}
    details: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        props = [(p.get("name"), p.get("value") or "") for p in case.iter("property")]
        check_id = next((v for n, v in props if n == "wscheck_id"), case.get("name") or "")
        verdict = next((v for n, v in props if n == "wscheck_verdict"), None)
        if verdict is None:  # not applicable (skipped) or an error before the verdict
            verdict = "skip" if case.find("skipped") is not None else "error"
        verdicts[check_id] = verdict
        notes[check_id] = [v for n, v in props if n == "wscheck_note"]
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            details[check_id] = (failure.get("message") or "") + "\n" + (failure.text or "")
    problems = {m.group(2): m.group(3) for line in output.splitlines()
                if (m := _SUMMARY_LINE.match(line))}
    return SuiteRun(verdicts, notes, problems, details, returncode, output)


def make_test_ca(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with openssl
    in ``directory``: ``{"ca": ..., "cert": ..., "key": ...}``. Without openssl the test is
    skipped with the reason, except under ``CI=true``, where the machine must have it."""
    import pytest

    if shutil.which("openssl") is None:
        message = "openssl is needed to make test certificates (apt-get install openssl)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                       timeout=30)

    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=wscheck test CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": directory / "ca.pem", "cert": directory / "server.pem",
            "key": directory / "server.key"}


class SessionRecorder:
    """Wraps an ASGI app and records how each WebSocket session ended: the exception it
    raised, or None when it returned (so a test can assert the app ended quietly)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ended: list[BaseException | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            if scope["type"] == "websocket":
                self.ended.append(exc)
            raise
        if scope["type"] == "websocket":
            self.ended.append(None)
