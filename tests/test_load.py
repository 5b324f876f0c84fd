"""Conformance under load (``wscheck load``, ``wscheck.load``): options, the workload, the
gevent client against the kit's own driver, the reference app under a few hundred users,
a Locust master with two workers as separate processes, and servers that are wrong only
under load (``tests/load_broken.py``).

Every Locust run is bounded twice (``--run-time`` and a subprocess timeout), listens and
connects on 127.0.0.1 only, and stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wsproto
import wsproto.events as we
from hypothesis import given, settings

import wscheck.drivers._netconn as netconn
import wscheck.load.wire as load_wire
from reference_app import create_app
from tests.load_broken import LOAD_DEFECTS
from tests.servers import (
    ROOT,
    finish_suite,
    free_port,
    make_test_ca,
    serve_uvicorn,
    start_suite,
)
from tests.test_bounds import (
    Handler,
    announces_huge_frame,
    close_then,
    continuation_flood,
    frame_header,
    many_fragments,
    raw_server,
)
from wscheck.cli.main import main as wscheck_main
from wscheck.config.settings import Settings
from wscheck.core.events import (
    Accepted,
    ClientClose,
    Closed,
    Conversation,
    Event,
    Silence,
    Text,
    TransportError,
)
from wscheck.core.spec import Spec
from wscheck.drivers.base import MAX_MESSAGE_SIZE
from wscheck.drivers.url import UrlDriver
from wscheck.generation.strategies import conversations
from wscheck.load import main as load_main
from wscheck.load.cli import locust_command, parse_options
from wscheck.load.wire import GeventDriver, run_blocking
from wscheck.load.workload import (
    KINDS,
    Workload,
    conversation_from_json,
    conversation_to_json,
    difference,
    kind_of,
)
from wscheck.run.conversation import Observation, run_conversation

# Locust is looked for, not imported: importing it monkey-patches this process for gevent.
if importlib.util.find_spec("locust") is None:  # pragma: no cover - the test extra has it
    pytest.skip("the load extra is not installed: pip install 'pytest-wscheck[load]'",
                allow_module_level=True)

#: Bound of any ``wscheck load`` or Locust process in these tests.
PROCESS_TIMEOUT = 120.0


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def wscheck_load(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``wscheck load ARGS`` as a user runs it, in a process of its own, bounded."""
    return subprocess.run([sys.executable, "-m", "wscheck", "load", *args], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
                          stdin=subprocess.DEVNULL)


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, flag", [
    ([], "--url"),
    (["--url", "http://127.0.0.1:1"], "--url"),
    (["--url", "127.0.0.1:8000"], "--url"),
    (["--url", "ws://127.0.0.1:1/?a=1"], "--url"),
    (["--url", "ws://127.0.0.1:1", "--users", "0"], "--users"),
    (["--url", "ws://127.0.0.1:1", "--users", "many"], "--users"),
    (["--url", "ws://127.0.0.1:1", "--spawn-rate", "0"], "--spawn-rate"),
    (["--url", "ws://127.0.0.1:1", "--run-time", "soon"], "--run-time"),
    (["--url", "ws://127.0.0.1:1", "--run-time", "0s"], "--run-time"),
    (["--url", "ws://127.0.0.1:1", "--processes", "0"], "--processes"),
    (["--url", "ws://127.0.0.1:1", "--timeout", "0"], "--timeout"),
    (["--url", "ws://127.0.0.1:1", "--quiet-window", "-1"], "--quiet-window"),
    (["--url", "ws://127.0.0.1:1", "--quiet-window", "0"], "--quiet-window"),
    (["--url", "ws://127.0.0.1:1", "--replay", "no-such-file.json"], "--replay"),
    (["--url", "ws://127.0.0.1:1", "--spec", "no-such-spec.toml"], "no-such-spec.toml"),
    (["--url", "wss://127.0.0.1:1", "--ca-file", "no-such-ca.pem"], "--ca-file"),
    (["--url", "ws://127.0.0.1:1", "--frobnicate"], "--frobnicate"),
    (["--url", "ws://127.0.0.1:1", "--html", "locust.html"], "--locust-html"),
    (["--url", "ws://127.0.0.1:1", "--xfail", "known.txt"], "`wscheck run`"),
])
def test_bad_options_are_one_line_and_exit_4(argv: list[str], flag: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert load_main(argv) == 4
    err = capsys.readouterr().err
    assert err.startswith("wscheck load: ") and err.count("\n") == 1, err
    assert flag in err
    assert "Traceback" not in err and "usage:" not in err


@pytest.mark.parametrize("content, says", [
    ("{not json", "--replay"),
    ('{"path": "/ws", "actions": [{"type": "shout"}]}', "unknown action type"),
    ('{"path": "/ws", "actions": [["send_text", "x"]]}', "not a conversation"),
    ('{"path": "/nowhere"}', "no endpoint"),
])
def test_bad_replay_file_is_a_usage_error(tmp_path: Path, content: str, says: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "conversation.json"
    bad.write_text(content, encoding="utf-8")
    assert load_main(["--url", "ws://127.0.0.1:1", "--replay", str(bad)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


def test_bad_spec_file_is_a_usage_error(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text("[echo]\nnot_a_key = 1\n", encoding="utf-8")
    assert load_main(["--url", "ws://127.0.0.1:1", "--spec", str(spec)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not_a_key" in err, err


def test_the_shared_options_have_the_suites_defaults_and_words(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``wscheck load`` takes the target, spec, timeout, quiet window, CA bundle and report
    from the settings table: a suite run's defaults, refused in the same words."""
    options = parse_options(["--url", "ws://127.0.0.1:1"])
    suite = Settings()
    assert (options.settings.timeout, options.settings.quiet_window) == (
        suite.timeout, suite.quiet_window)
    assert (options.users, options.spawn_rate, options.run_time) == (10, 10.0, 10.0)
    assert options.spec_file is None and options.settings.spec == Spec()
    for argv in (["--timeout", "0"], ["--quiet-window", "nan"], ["--url", "ws://x/?q=1"]):
        assert load_main(["--url", "ws://127.0.0.1:1", *argv]) == 4
        assert wscheck_main(["run", *argv]) == 4
        load_line, run_line = capsys.readouterr().err.splitlines()
        assert load_line.removeprefix("wscheck load: ") == run_line.removeprefix(
            "wscheck run: "), (load_line, run_line)


def test_locusts_own_reports_are_forwarded_under_locusts_names(tmp_path: Path) -> None:
    options = parse_options(["--url", "ws://127.0.0.1:1", "--csv", "stats",
                             "--locust-html", "locust.html", "--report", "verdict.json"])
    command = locust_command(options, tmp_path / "c.json", tmp_path / "s.json")
    assert command[command.index("--csv") + 1] == "stats"
    assert command[command.index("--html") + 1] == "locust.html"
    assert "verdict.json" not in command  # wscheck's verdict is written by this process


def test_the_spec_comes_from_tool_wscheck_as_in_a_suite_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wscheck.echo]\nreply = "You said: '
                                             '{message}"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    options = parse_options(["--url", "ws://127.0.0.1:1"])
    assert options.settings.spec.echo is not None
    assert options.settings.spec.echo.reply == "You said: {message}"
    command = locust_command(options, tmp_path / "c.json", tmp_path / "s.json")
    assert command[command.index("--wscheck-spec") + 1] == str(tmp_path / "pyproject.toml")


def test_the_wscheck_command_dispatches_load(capsys: pytest.CaptureFixture[str]) -> None:
    assert wscheck_main(["load", "--users", "0", "--url", "ws://127.0.0.1:1"]) == 4
    assert "--users" in capsys.readouterr().err


# --- the workload: the kit's generators, sorted by kind --------------------------------------


def test_workload_draws_every_kind_from_the_kit_generators() -> None:
    spec = Spec()
    workload = Workload.generate(spec, size=40, seed=1)
    assert list(workload.pools) == list(KINDS)
    for kind, pool in workload.pools.items():
        assert pool, kind
        assert all(kind_of(spec, c) == kind for c in pool)
    auth = [c for c in workload.conversations() if c.path == spec.auth.url_path()]  # type: ignore[union-attr]
    shapes = {(any(k == "token" for k, _ in c.query), bool(c.cookies)) for c in auth}
    assert len(shapes) == 4, "every combination of cookie and token, present or absent"


_DRAW_WORKLOAD = """
import hashlib, json, sys
if len(sys.argv) > 1:  # a local module with constants of its own, as an edit of the kit adds
    sys.path.insert(0, sys.argv[1])
    import more_constants  # noqa: F401
from wscheck.core.spec import Spec
from wscheck.load.workload import Workload, conversation_to_json
convs = Workload.generate(Spec(), seed=5).conversations()
print(hashlib.sha256(json.dumps([conversation_to_json(c) for c in convs]).encode()).hexdigest())
"""


def test_a_seed_draws_the_same_workload_whatever_the_source(tmp_path: Path) -> None:
    """Two processes as two ``wscheck load`` runs: one with another string hash, and one
    with a local module of constants imported first (Hypothesis mixes those of every local
    module into what it draws); the seed alone decides."""
    (tmp_path / "more_constants.py").write_text(
        'WORDS = ["bye", "after bye", "token", "session", "q", "-1", "007", "ünï", "x" * 40]\n'
        "NUMBERS = [1234567, -99, 3, 42, 2**31]\n", encoding="utf-8")
    digests = [subprocess.run([sys.executable, "-c", _DRAW_WORKLOAD, *extra], cwd=tmp_path,
                              env={**_env(), "PYTHONHASHSEED": hash_seed}, capture_output=True,
                              text=True, timeout=PROCESS_TIMEOUT, check=True).stdout
               for hash_seed, extra in (("1", []), ("2", [str(tmp_path)]))]
    assert digests[0] == digests[1] and len(digests[0].strip()) == 64, digests


@settings(max_examples=50, deadline=None)
@given(conversations(Spec()))
def test_conversations_survive_json(conversation: Conversation) -> None:
    data = json.loads(json.dumps(conversation_to_json(conversation)))
    assert conversation_from_json(data) == conversation


def test_differences_are_named_by_how_not_what() -> None:
    conv = Conversation.of("/ws", "a", "b")
    a, b = Text("接收到的消息是:a"), Text("接收到的消息是:b")
    cases = {
        (Accepted(), a, b): None,
        (Accepted(), Text("接收到的消息是:zzz"), b): (1, "wrong text"),
        (Accepted(), b, a): (1, "text out of order"),
        (Accepted(), a, Silence(1.0)): (2, "silence instead of text"),
        (Accepted(), a): (2, "missing text"),
        (Accepted(), a, b, Text("more")): (3, "unexpected text"),
        (Accepted(), a, Closed(1011)): (2, "close 1011 instead of text"),
    }
    expected = (Accepted(), a, b)
    for observed, want in cases.items():
        obs = Observation(conv, expected, observed)
        if want is None:
            assert obs.ok
        else:
            assert difference(obs) == want, observed


# --- the gevent client is the kit's network driver, observation for observation --------------


def test_gevent_client_observes_what_the_kit_driver_observes() -> None:
    spec = Spec()
    convs = Workload.generate(spec, size=15, seed=7).conversations()
    convs.append(Conversation.of("/item/ws", "x"))  # refused: no credentials
    convs.append(Conversation.of("/ws", b"\x00", ClientClose()))  # binary: 1003
    with serve_uvicorn(create_app()) as address:
        url = f"ws://{address}"
        gevent_driver = GeventDriver(url, timeout=5, quiet_window=0.05)
        observed = [run_blocking(run_conversation(gevent_driver, spec, c)) for c in convs]

        async def kit() -> list[Observation]:
            driver = UrlDriver(url, timeout=5, quiet_window=0.05)
            try:
                return [await run_conversation(driver, spec, c) for c in convs]
            finally:
                await driver.aclose()

        reference = asyncio.run(kit())
    assert [o.observed for o in observed] == [o.observed for o in reference]
    assert all(o.ok for o in observed), [o for o in observed if not o.ok][:1]
    assert gevent_driver.open_connections == 0


_SLOW_START = """
import time
import gevent
from locust.env import Environment
import wscheck.load.user as user
gevent.get_hub()  # the loop exists, as it does once Locust is imported
started = time.monotonic()
while time.monotonic() - started < 1.5:  # a start-up on a busy machine: the loop never runs
    pass
user._on_init(Environment())  # Locust's init event, fired just before it sets --run-time
timer_set = time.monotonic()
gevent.spawn_later(1.0, lambda: None).join()
print(round(time.monotonic() - timer_set, 2))
"""


def test_run_time_counts_from_the_start_of_the_run_not_of_the_event_loop() -> None:
    """Locust's ``--run-time`` is a gevent timer, and gevent's clock is the time the loop
    last ran: after a start-up longer than the run time, it would fire at once."""
    done = subprocess.run([sys.executable, "-c", _SLOW_START], env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) >= 0.9, done.stdout


def test_gevent_client_reports_nothing_listening_as_an_observation() -> None:
    driver = GeventDriver(f"ws://127.0.0.1:{free_port()}", timeout=2)
    obs = run_blocking(run_conversation(driver, Spec(), Conversation.of("/ws", "hi")))
    assert not obs.ok
    assert "refused" in str(obs.observed[0])


# --- the gevent client has the network driver's bounds against hostile servers ---------------


@contextlib.contextmanager
def hostile(handler: Handler) -> Iterator[str]:
    """A raw asyncio server (tests/test_bounds.py's) on 127.0.0.1 in a thread of its own, so
    that blocking clients and subprocesses can talk to it; stopped on exit, bounded."""
    ready: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        async with raw_server(handler) as url:
            ready.put(url)
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def _both(url: str, **options: Any) -> tuple[list[Event], list[Event]]:
    """What the gevent client and the kit's network driver each observe on one connection to
    ``url``: the handshake, one receive, and what ``finish`` says afterwards."""
    gevent_driver = GeventDriver(url, **options)

    async def observe(driver: GeventDriver | UrlDriver) -> list[Event]:
        conn = await driver.connect("/ws")
        event = await conn.receive()
        late = await conn.finish()
        await conn.drop()  # a server that keeps the connection open is not waited for
        return [conn.handshake, event] + ([late] if late is not None else [])

    gevent_seen = run_blocking(observe(gevent_driver))
    assert gevent_driver.open_connections == 0

    async def kit() -> list[Event]:
        driver = UrlDriver(url, **options)
        try:
            return await observe(driver)
        finally:
            await driver.aclose()

    return gevent_seen, asyncio.run(kit())


def test_the_gevent_client_needs_neither_httpx_nor_anyio() -> None:
    """It bounds a receive with the network driver's own sans-I/O deadline
    (``_wire.ReceiveDeadline``), without importing the asyncio stack (about 10 MB more in
    every Locust process)."""
    code = ("import sys, wscheck.load.wire; "
            "print(sorted({'httpx', 'anyio', 'httpcore'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_frame_announcing_2_63_bytes_fails_the_gevent_client_at_its_header() -> None:
    with hostile(announces_huge_frame) as url:
        seen, kit = _both(url, timeout=2.0)
    assert seen == kit
    event = seen[1]
    assert isinstance(event, TransportError), seen
    assert f"message of {2**63 - 1} bytes, over the client's limit of {MAX_MESSAGE_SIZE}" \
        in event.problem
    assert "failed the connection with 1009" in event.problem


@pytest.mark.parametrize("handler, options, want", [
    # The third fragment's header takes the message to 120,000 bytes.
    (continuation_flood(10, 40_000), {"max_message_size": 100_000},
     "message of 120000 bytes, over the client's limit of 100000"),
    (continuation_flood(10, 10_000), {"max_message_size": 100_000}, "a" * 100_000),
    # Decoding 60,000 one-byte frames takes longer than the timeout: not the server's silence.
    (many_fragments(60_000), {"timeout": 0.3}, "a" * 60_000),
    (close_then(frame_header(0x1, 5) + b"again"), {}, "7 bytes after its close frame"),
], ids=["over-the-limit", "within-the-limit", "slow-to-decode", "bytes-after-close"])
def test_the_gevent_client_observes_hostile_servers_as_the_kit_driver_does(
        handler: Handler, options: dict[str, Any], want: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Lifted here, the bound on a whole receive that keeps getting bytes (RECEIVE_FACTOR x
    # the timeout): on a machine busy with other work, decoding 60,000 frames reached it.
    monkeypatch.setattr(netconn, "RECEIVE_FACTOR", 1000.0)
    monkeypatch.setattr(load_wire, "RECEIVE_FACTOR", 1000.0)
    with hostile(handler) as url:
        seen, kit = _both(url, **{"timeout": 2.0, **options})
    assert seen == kit
    assert want in str(seen[-1]) if len(want) < 100 else seen[1] == Text(want), seen


def _peak_rss_of(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``command`` from a small Python parent and return its result with the peak RSS,
    in bytes, of the largest process it ran (Linux's ``RUSAGE_CHILDREN``: Locust's process,
    which ``wscheck load`` waits for), unmixed with this test process's other children."""
    parent = ("import json, resource, subprocess, sys\n"
              "done = subprocess.run(json.loads(sys.argv[1]), stdin=subprocess.DEVNULL)\n"
              "sys.stderr.write('\\npeak-rss-kib %d\\n' % "
              "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
              "sys.exit(done.returncode)\n")
    run = subprocess.run([sys.executable, "-c", parent, json.dumps(command)], cwd=cwd,
                         env=_env(), capture_output=True, text=True, timeout=PROCESS_TIMEOUT,
                         stdin=subprocess.DEVNULL)
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("peak-rss-kib "), run.stderr[-2000:]
    return run, int(last.split()[1]) * 1024


#: What the hostile server below sends at most on one connection, if the client keeps reading.
HOSTILE_BUDGET = 256 * 1024 * 1024


@pytest.mark.slow  # a Locust run of its own; CI runs it (scripts/test --slow)
def test_a_load_run_reports_a_2_63_byte_frame_as_the_servers_fault(tmp_path: Path) -> None:
    """Every connection announces a 2^63-1-byte frame and then streams its payload (up to
    256 MiB). The run ends on its own, every user's connection failed with 1009 after a few
    MiB at most (what the kernel's buffers hold), the verdict blames the server, and Locust's
    memory stays far below what the server offered."""
    sent: list[int] = []
    closes: list[int] = []

    async def floods(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError):
            return  # ``wscheck load``'s check that something listens
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        ws.receive_data(request)
        assert any(isinstance(e, we.Request) for e in ws.events())
        writer.write(ws.send(we.AcceptConnection()) + frame_header(0x2, 2**63 - 1))

        async def listen() -> None:  # what the client says: its close frame, with its code
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    ws.receive_data(data)
                    closes.extend(e.code for e in ws.events()
                                  if isinstance(e, we.CloseConnection))

        listener = asyncio.create_task(listen())
        count, chunk = 0, b"\0" * 65536
        try:
            while count < HOSTILE_BUDGET:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 10)
                count += len(chunk)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the client let the connection go, as it should
        finally:
            sent.append(count)
            await asyncio.wait_for(listener, 5)

    with hostile(floods) as url:
        started = time.monotonic()
        run, peak = _peak_rss_of(
            [sys.executable, "-m", "wscheck", "load", "--url", url, "--users", "3",
             "--spawn-rate", "3", "--run-time", "3s", "--timeout", "2",
             "--report", str(tmp_path / "verdict.json")], tmp_path)
        elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    verdict = _report(tmp_path / "verdict.json")
    assert verdict["kit_errors"] == 0, output
    # Every conversation that waits for the server ends there (those that only send and drop
    # can match).
    assert verdict["mismatches"] > verdict["conversations"] // 2, verdict
    assert all("transport error" in e["difference"] for e in verdict["examples"]), \
        [e["difference"] for e in verdict["examples"]]
    assert f"message of {2**63 - 1} bytes, over the client's limit" in output, output
    assert "failed the connection with 1009" in output
    assert sent and closes and set(closes) == {1009}, (len(sent), set(closes))
    # A client that kept reading would take the whole budget per connection.
    assert max(sent) < HOSTILE_BUDGET // 8, max(sent)
    assert peak < HOSTILE_BUDGET // 2, peak
    assert elapsed < PROCESS_TIMEOUT  # wide: what it catches is a run with no end


# --- whole runs --------------------------------------------------------------------------------


def _report(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.slow  # a Locust run of its own; CI runs it (scripts/test --slow)
def test_reference_app_under_a_few_hundred_users(tmp_path: Path) -> None:
    with serve_uvicorn(create_app()) as address:
        run = wscheck_load("--url", f"ws://{address}", "--users", "300", "--spawn-rate", "300",
                           "--run-time", "5s", "--processes", "2",
                           "--report", str(tmp_path / "verdict.json"), cwd=tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    verdict = _report(tmp_path / "verdict.json")
    assert verdict["mismatches"] == 0 and verdict["kit_errors"] == 0, output
    assert verdict["conversations"] >= 100, verdict
    assert set(verdict["kinds"]) == set(KINDS)
    assert all(k["conversations"] > 0 for k in verdict["kinds"].values()), verdict
    # Locust's own statistics, one row per conversation kind, with percentiles.
    assert "Response time percentiles" in output
    for kind in KINDS:
        assert f"WS       {kind}" in output
    assert "every transcript matched the model" in output


@pytest.mark.slow  # a Locust run of its own; CI runs it (scripts/test --slow)
def test_master_and_two_workers_give_one_merged_verdict(tmp_path: Path) -> None:
    """Plain ``locust`` with the one-line locustfile of docs/load.md: a master and two
    workers as separate processes, which draw their own conversations."""
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text("from wscheck.load.user import WscheckUser  # noqa: F401\n",
                          encoding="utf-8")
    port = str(free_port())
    summary = tmp_path / "summary.json"
    locust = [sys.executable, "-m", "locust", "-f", str(locustfile)]
    # Locust's --run-time counts from when both workers are connected; then each draws its
    # first conversations (a second or two on a busy machine) and runs for the rest: 8 s.
    with serve_uvicorn(create_app()) as address:
        master = subprocess.Popen(
            [*locust, "--master", "--headless", "--expect-workers", "2", "--users", "60",
             "--spawn-rate", "60", "--run-time", "8s", "--master-bind-host", "127.0.0.1",
             "--master-bind-port", port, "--host", f"ws://{address}", "--only-summary",
             "--csv", str(tmp_path / "stats"), "--wscheck-summary", str(summary)],
            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, stdin=subprocess.DEVNULL)
        workers = [subprocess.Popen(
            [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
            cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL) for _ in range(2)]
        try:
            output, _ = master.communicate(timeout=PROCESS_TIMEOUT)
            for worker in workers:
                worker.wait(timeout=30)
        finally:
            for process in (master, *workers):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert master.returncode == 0, output
    assert "2 workers connected" in output, output
    verdict = _report(summary)
    assert verdict["conversations"] > 0 and verdict["mismatches"] == 0, verdict
    # The same merged counts are in Locust's CSV report, per conversation kind.
    csv_rows = (tmp_path / "stats_stats.csv").read_text(encoding="utf-8").splitlines()
    counted = {row.split(",")[1]: int(row.split(",")[2]) for row in csv_rows[1:]
               if row.startswith("WS,")}
    assert counted == {k: v["conversations"] for k, v in verdict["kinds"].items()}


# --- servers wrong only under load ------------------------------------------------------------


#: Seed of the load runs against them: the same workload in every run, whatever the kit's
#: source (the workload is drawn without Hypothesis's local constants).
LOAD_SEED = "1"


@pytest.mark.slow  # three servers, a whole suite or load run each; CI runs them
@pytest.mark.parametrize("name", sorted(LOAD_DEFECTS))
def test_load_only_defect_passes_the_ordinary_suite(name: str, tmp_path: Path) -> None:
    factory, _, _, _ = LOAD_DEFECTS[name]
    app = factory()
    with serve_uvicorn(app) as address:
        run = finish_suite(start_suite(f"ws://{address}", tmp_path), tmp_path)
    assert run.returncode == 0 and not run.failing(), run.output[-3000:]
    # The suite stays below the thresholds, with a margin: what it passes is not luck. Below
    # half the crowd, no reply of the suite ever waited for one.
    assert app.peak * 2 <= getattr(app, "crowd", app.peak * 2), app.peak
    assert getattr(app, "held", 0) == 0
    assert app.sessions * 2 <= getattr(app, "after", app.sessions * 2), app.sessions


@pytest.mark.slow  # three servers, a whole suite or load run each; CI runs them
@pytest.mark.parametrize("name", sorted(LOAD_DEFECTS))
def test_load_only_defect_fails_wscheck_load_with_a_replayable_example(
        name: str, tmp_path: Path) -> None:
    factory, want, kinds, made = LOAD_DEFECTS[name]
    app = factory()
    with serve_uvicorn(app) as address:
        url = f"ws://{address}"
        # The session leak needs 1,000 sessions first: at a busy machine's pace (under 200
        # conversations a second) that is more than 6 s.
        run_time = "15s" if name == "leaks_after_sessions" else "6s"
        # The leak makes wrong texts, never silence: a wait there only measures the machine.
        # Beside two CPU-bound processes an accept once took over 2 s among 400 users
        # (benchmarks/load_flakes.py), so its waits are long; the crowd's defect is silence
        # itself, and 2 s is what it must be reported within.
        timeout = "10" if name == "leaks_after_sessions" else "2"
        # 400 users, more than the crowd (160 connections; the ordinary suite opens
        # 45-61 at its peak): the crowd forms as soon as that many have connected, however
        # busy the machine (tests/load_broken.py).
        run = wscheck_load("--url", url, "--users", "400", "--spawn-rate", "400",
                           "--run-time", run_time, "--timeout", timeout, "--seed", LOAD_SEED,
                           "--report", str(tmp_path / "verdict.json"), cwd=tmp_path)
        output = run.stdout + run.stderr
        assert run.returncode == 1, output
        verdict = _report(tmp_path / "verdict.json")
        assert verdict["kit_errors"] == 0, output
        assert 0 < verdict["mismatches"] < verdict["conversations"], verdict
        # Every difference is one the defect makes, and its own kind is among them.
        shown = {e["difference"] for e in verdict["examples"]}
        assert want in shown and shown <= made, (shown, _counters(app))
        example = next(e for e in verdict["examples"] if e["difference"] == want)
        assert example["kind"] in kinds
        # Printed as the suite prints a failure, with the command that replays it.
        assert example["table"] in output and ">>" in example["table"]
        assert f"replay: {example['replay']}" in output
        assert json.loads(Path(example["file"]).read_text(encoding="utf-8")) == \
            example["conversation"]
        if name in ("crosstalk", "leaks_after_sessions"):
            # Both need clients that say different things: one conversation repeated by every
            # user swaps equal replies and leaks a credential into a session that carries the
            # same one, so their replay is the whole run with the same --seed (docs/load.md).
            return
        words = shlex.split(example["replay"])
        assert words[:2] == ["wscheck", "load"]
        words[words.index("--run-time") + 1] = "5s"
        replay = wscheck_load(*words[2:], "--timeout", "2",
                              "--report", str(tmp_path / "replay.json"), cwd=tmp_path)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    again = _report(tmp_path / "replay.json")
    shown = {e["difference"] for e in again["examples"]}
    assert shown and shown <= made, (again, replay.stdout, _counters(app))


def _counters(app: object) -> dict[str, float]:
    """What a server of tests/load_broken.py counted (sessions, crowds, defects shown)."""
    return {k: v for k, v in vars(app).items()
            if isinstance(v, (int, float)) and not k.startswith("_")}


@pytest.mark.slow  # a Locust run of its own; CI runs it (scripts/test --slow)
def test_wss_with_a_private_ca(tmp_path: Path) -> None:
    """``wss://`` through TLS: verified with ``--ca-file``, and without it the certificate
    is not trusted, which every conversation reports."""
    tls = make_test_ca(tmp_path)
    with serve_uvicorn(create_app(), ssl_certfile=str(tls["cert"]),
                       ssl_keyfile=str(tls["key"])) as address:
        url = f"wss://{address}"
        trusted = wscheck_load("--url", url, "--users", "20", "--run-time", "3s",
                               "--ca-file", str(tls["ca"]),
                               "--report", str(tmp_path / "trusted.json"), cwd=tmp_path)
        untrusted = wscheck_load("--url", url, "--users", "2", "--run-time", "2s",
                                 "--report", str(tmp_path / "untrusted.json"), cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    verdict = _report(tmp_path / "trusted.json")
    assert verdict["conversations"] > 0 and verdict["mismatches"] == 0, verdict
    assert untrusted.returncode == 1
    failed = _report(tmp_path / "untrusted.json")
    assert failed["mismatches"] == failed["conversations"] > 0
    assert "certificate" in untrusted.stdout, untrusted.stdout[-2000:]


def test_nothing_listening_is_one_line_and_exit_1(tmp_path: Path) -> None:
    run = wscheck_load("--url", f"ws://127.0.0.1:{free_port()}", "--users", "2", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith("wscheck load: nothing answers at ws://127.0.0.1:")
    assert run.stderr.count("\n") == 1 and "refused" in run.stderr, run.stderr


@pytest.mark.slow  # a Locust run of its own; CI runs it (scripts/test --slow)
def test_run_time_bounds_a_run_against_a_silent_server(tmp_path: Path) -> None:
    """A server that accepts TCP and never answers: the run still ends on time, and says
    that nothing was verified."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(100)
        port = silent.getsockname()[1]
        started = time.monotonic()
        run = wscheck_load("--url", f"ws://127.0.0.1:{port}", "--users", "5",
                           "--run-time", "5s", "--timeout", "1", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert time.monotonic() - started < PROCESS_TIMEOUT
    assert "silence instead of accept" in run.stdout


@pytest.mark.slow  # a Locust run of its own; CI runs it (scripts/test --slow)
def test_load_benchmark_quick_prints_its_figures_as_its_last_line() -> None:
    """A smoke run of benchmarks/load.py with tiny sizes: the shape of the figures, and
    that every session was held and verified; never a speed."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "load.py"), "--quick"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT * 2, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for client in ("locust", "url_driver", "websockets"):
        assert figures[f"{client}_conversations_per_s"] > 0, client
        assert figures[f"{client}_conversations_per_cpu_s"] > 0, client
    assert figures["locust_mismatches"] == 0 and figures["url_driver_mismatches"] == 0
    assert figures["sessions_peak_open"] == figures["sessions_users"]
    assert figures["sessions_conversations"] >= figures["sessions_users"]
    assert figures["sessions_mismatches"] == 0 and figures["sessions_kit_errors"] == 0


def test_without_locust_the_command_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The plugin's own install has no Locust: `wscheck load` says how to get it, in one
    line, instead of a failing Locust subprocess."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "locust" else real(name, *a))
    assert load_main(["--url", "ws://127.0.0.1:1"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'pytest-wscheck[load]'" in err, err
