"""Conformance under load: what a Locust worker process of ``wscheck load`` verifies per
second, next to the kit's asyncio network driver and a bare ``websockets`` client, and how
many verified sessions this machine holds open at once.

Everything runs in one invocation against the reference app under uvicorn in a child
process on 127.0.0.1, so the ratios hold on a shared, noisy machine where absolute figures
do not.

Throughput (``--concurrency`` clients for ``--seconds``, the same pool of conversations from
the kit's generators for every client, quiet window 0 so that no client waits on a timer):

* ``locust``: ``python -m locust`` headless with :class:`wscheck.load.user.WscheckUser`, one
  process (gevent, :mod:`wscheck.load.wire`), every transcript checked against the model;
* ``url_driver``: the kit's :class:`~wscheck.drivers.url.UrlDriver` on asyncio, the same
  conversations through the same :func:`~wscheck.run.conversation.run_conversation`, checked;
* ``websockets``: a bare ``websockets`` client that sends the same messages and reads as many
  replies as the model predicts, checking nothing.

Each gives conversations per second (wall clock) and per CPU-second of the client process
(the server's CPU is not counted; Locust's includes its start-up, about a second).

Sessions (``--sessions N``): N Locust users at once, each conversation followed by a long
quiet window (``--hold`` seconds during which the client listens for anything unexpected),
so that every user keeps its verified session open while the others connect. The server
counts open WebSocket sessions and the benchmark reads its peak; memory is the peak RSS of
the Locust process and of the server, per session, above their RSS with one user. The
open-file limit is raised to the hard limit (``resource.setrlimit``) for both children.

Usage::

    python benchmarks/load.py                       # all of it (a few minutes)
    python benchmarks/load.py --sessions 0          # throughput only
    python benchmarks/load.py --quick               # tiny sizes (a smoke run)

The JSON object with every figure is the last line of the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import math
import os
import platform
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from reference_app import app as reference_app  # noqa: E402
from wscheck.core.events import ClientClose, Closed, Conversation, Drop, SendText, Text  # noqa: E402
from wscheck.core.spec import Spec  # noqa: E402
from wscheck.drivers.url import UrlDriver  # noqa: E402
from wscheck.load.workload import Workload, write_conversations  # noqa: E402
from wscheck.model.echo import expected  # noqa: E402
from wscheck.run.conversation import run_conversation  # noqa: E402

SPEC = Spec()
LOCUSTFILE = ROOT / "wscheck" / "load" / "locustfile.py"

Scope = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISend = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class CountedApp:
    """The reference app, counting open WebSocket sessions; ``GET /__sessions`` answers
    ``{"open": N, "peak": N, "total": N}`` (the benchmark's only window into the server)."""

    def __init__(self) -> None:
        self.open = self.peak = self.total = 0

    async def __call__(self, scope: Scope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "http" and scope["path"] == "/__sessions":
            body = json.dumps({"open": self.open, "peak": self.peak,
                               "total": self.total}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "websocket":
            await reference_app(scope, receive, send)
            return
        self.open += 1
        self.total += 1
        self.peak = max(self.peak, self.open)
        try:
            await reference_app(scope, receive, send)
        finally:
            self.open -= 1


counted_app = CountedApp()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_open_files() -> int:
    """Raise this process's (and so its children's) open-file limit to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@contextlib.contextmanager
def server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The counted reference app under uvicorn in a child process; yields its address."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "load:counted_app", "--app-dir", str(ROOT / "benchmarks"),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
         "--backlog", "4096", "--no-access-log"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sessions_counter(address: str) -> dict[str, int]:
    connection = http.client.HTTPConnection(address, timeout=10)
    try:
        connection.request("GET", "/__sessions")
        return dict(json.loads(connection.getresponse().read()))
    finally:
        connection.close()


def _rss(pid: int) -> int:
    """Resident memory of a process in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


# --- throughput -----------------------------------------------------------------------------

#: Rounds added when a client completed no conversation at all (see ``throughput``).
EXTRA_ROUNDS = 2


def run_locust(address: str, pool: Path, users: int, seconds: float, *, quiet: float = 0.0,
               timeout: float = 10.0, spawn_rate: float | None = None,
               watch: Callable[[], None] | None = None) -> dict[str, Any]:
    """One Locust process with ``users`` users for ``seconds``; its verdict, CPU and RSS."""
    with tempfile.TemporaryDirectory(prefix="wscheck-bench-") as tmp:
        summary = Path(tmp) / "summary.json"
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--only-summary", "--host", f"ws://{address}", "--users", str(users),
            "--spawn-rate", str(spawn_rate or users), "--run-time", f"{math.ceil(seconds)}s",
            "--stop-timeout", "0", "--loglevel", "ERROR",
            "--wscheck-conversations", str(pool), "--wscheck-quiet-window", f"{quiet:g}",
            "--wscheck-timeout", f"{timeout:g}", "--wscheck-summary", str(summary)]
        log = Path(tmp) / "locust.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        peak_rss = cpu = 0.0
        deadline = time.monotonic() + seconds + 120
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("Locust did not stop")
            peak_rss = max(peak_rss, _rss(process.pid))
            cpu = max(cpu, _cpu(process.pid))
            if watch is not None:
                watch()
            time.sleep(0.25)
        if not summary.is_file():
            raise RuntimeError(f"Locust wrote no verdict:\n{log.read_text()[-3000:]}")
        result: dict[str, Any] = json.loads(summary.read_text(encoding="utf-8"))
        if not result["conversations"]:  # say why, for the round that will follow
            print(f"Locust completed no conversation in {seconds:g} s; its log ends:\n"
                  f"{log.read_text(errors='replace')[-2000:]}", file=sys.stderr, flush=True)
    result.update(peak_rss=peak_rss, cpu_seconds=cpu)
    return result


async def run_url_driver(address: str, conversations: Sequence[Conversation], clients: int,
                         seconds: float) -> tuple[int, int]:
    """``clients`` asyncio tasks running conversations with the kit's driver; (verified,
    mismatched)."""
    driver = UrlDriver(f"ws://{address}", timeout=10, quiet_window=0.0)
    stop = time.monotonic() + seconds
    counts = [0, 0]

    async def client(rng: random.Random) -> None:
        while time.monotonic() < stop:
            obs = await run_conversation(driver, SPEC, rng.choice(conversations))
            counts[0 if obs.ok else 1] += 1

    try:
        await asyncio.gather(*(client(random.Random(i)) for i in range(clients)))
    finally:
        await driver.aclose()
    return counts[0], counts[1]


async def run_websockets(address: str, conversations: Sequence[Conversation], clients: int,
                         seconds: float) -> int:
    """``clients`` bare ``websockets`` clients: the same messages, as many replies read as
    the model predicts, nothing compared. Returns the conversations completed."""
    plans = []
    for conv in conversations:
        texts = [a.text for a in conv.actions if isinstance(a, SendText)]
        replies = sum(isinstance(e, Text) for e in expected(SPEC, conv))
        ends_alone = any(isinstance(a, (ClientClose, Drop)) for a in conv.actions)
        query = urlencode(list(conv.query))  # as the kit's drivers encode it
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in conv.cookies)} if conv.cookies \
            else None
        plans.append((conv.path, query, headers, texts, replies, ends_alone))
    stop = time.monotonic() + seconds
    done = [0]

    async def client(rng: random.Random) -> None:
        while time.monotonic() < stop:
            path, query, headers, texts, replies, _ = rng.choice(plans)
            uri = f"ws://{address}{path}" + (f"?{query}" if query else "")
            try:
                async with connect(uri, additional_headers=headers, max_size=None,
                                   open_timeout=10, close_timeout=1) as ws:
                    for text in texts:
                        await ws.send(text)
                    for _ in range(replies):
                        await asyncio.wait_for(ws.recv(), 10)
            except Exception:  # a refusal, a close after bye: nothing is checked here
                pass
            done[0] += 1

    await asyncio.gather(*(client(random.Random(i)) for i in range(clients)))
    return done[0]


def throughput(address: str, pool_file: Path, conversations: Sequence[Conversation],
               clients: int, seconds: float, rounds: int) -> dict[str, Any]:
    """Each client for ``seconds``, taking turns for ``rounds`` rounds; the best round of
    each (the machine is shared: a slow round says more about the neighbours).

    A client that completed nothing in any round gets up to two more: on a machine busy
    with other work (CI runs this beside the test suite) a few seconds can pass with the
    client starved of CPU, and zero is then a measure of the neighbours, not a figure."""
    best: dict[str, list[float]] = {"locust": [0, 0], "url_driver": [0, 0],
                                    "websockets": [0, 0]}
    mismatches = {"locust": 0, "url_driver": 0}

    def keep(key: str, count: int, wall: float, cpu: float) -> None:
        best[key][0] = max(best[key][0], count / wall)
        best[key][1] = max(best[key][1], count / cpu)

    done_rounds = 0
    while done_rounds < rounds or (done_rounds < rounds + EXTRA_ROUNDS
                                   and not all(per_s for per_s, _ in best.values())):
        done_rounds += 1
        locust = run_locust(address, pool_file, clients, seconds)
        keep("locust", locust["conversations"], seconds, locust["cpu_seconds"])
        mismatches["locust"] += locust["mismatches"] + locust["kit_errors"]

        started, cpu = time.monotonic(), time.process_time()
        ok, bad = asyncio.run(run_url_driver(address, conversations, clients, seconds))
        keep("url_driver", ok + bad, time.monotonic() - started, time.process_time() - cpu)
        mismatches["url_driver"] += bad

        started, cpu = time.monotonic(), time.process_time()
        done = asyncio.run(run_websockets(address, conversations, clients, seconds))
        keep("websockets", done, time.monotonic() - started, time.process_time() - cpu)
    figures: dict[str, Any] = {"rounds": done_rounds}
    for key, (per_s, per_cpu) in best.items():
        figures[f"{key}_conversations_per_s"] = per_s
        figures[f"{key}_conversations_per_cpu_s"] = per_cpu
    for key, count in mismatches.items():
        figures[f"{key}_mismatches"] = count
    for key in ("locust", "url_driver"):
        for unit in ("per_s", "per_cpu_s"):
            base = figures[f"websockets_conversations_{unit}"]
            figures[f"{key}_vs_websockets_{unit}"] = figures[f"{key}_conversations_{unit}"] / base
    return figures


# --- concurrent sessions --------------------------------------------------------------------


def _holds(conversation: Conversation) -> bool:
    """Whether the connection is still open, and listened to, when the conversation ends."""
    transcript = expected(SPEC, conversation)
    return (not any(isinstance(a, (ClientClose, Drop)) for a in conversation.actions)
            and not isinstance(transcript[-1], Closed))


def sessions(address: str, server_pid: int, pool_file: Path, users: int, hold: float,
             spawn_rate: float, slack: float = 5.0, margin: float = 15.0) -> dict[str, Any]:
    """``users`` Locust users, each conversation held open ``hold`` seconds by its quiet
    window; the server's peak of open sessions, and memory per session. ``slack``: seconds
    the first users still hold after the last have started; ``margin``: seconds the run
    goes on after that, for the conversations to end (both small in a smoke run)."""
    ramp = users / spawn_rate
    hold = max(hold, ramp + slack)  # the first users still hold when the last ones start
    baseline = run_locust(address, pool_file, 1, 3, quiet=hold, timeout=hold + 30)
    server_before = _rss(server_pid)
    seen = {"peak": 0, "server_rss": server_before}

    def watch() -> None:
        seen["server_rss"] = max(seen["server_rss"], _rss(server_pid))
        with contextlib.suppress(OSError, ValueError):
            seen["peak"] = max(seen["peak"], sessions_counter(address)["open"])

    run = run_locust(address, pool_file, users, ramp + hold + margin, quiet=hold,
                     timeout=hold + 30, spawn_rate=spawn_rate, watch=watch)
    peak = seen["peak"]
    return {
        "sessions_users": users,
        "sessions_peak_open": peak,
        "sessions_conversations": run["conversations"],
        "sessions_mismatches": run["mismatches"],
        "sessions_kit_errors": run["kit_errors"],
        "sessions_hold_seconds": hold,
        "sessions_differences": sorted({e["difference"] for e in run["examples"]}),
        "sessions_client_bytes_per_session": (run["peak_rss"] - baseline["peak_rss"])
        / max(peak, 1),
        "sessions_client_peak_rss": run["peak_rss"],
        "sessions_server_bytes_per_session": (seen["server_rss"] - server_before)
        / max(peak, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=10_000,
                        help="users for the concurrent-sessions run (0: skip it)")
    parser.add_argument("--hold", type=float, default=70.0,
                        help="seconds each session stays open after its conversation (at "
                             "least the ramp-up time plus 5 s)")
    parser.add_argument("--spawn-rate", type=float, default=250.0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    # A smoke run: every phase once, at sizes that only show the figures' shape.
    slack, margin = 5.0, 15.0
    if args.quick:
        args.concurrency, args.seconds, args.sessions, args.hold, args.rounds = 5, 2, 50, 2, 1
        slack, margin = 1.0, 3.0
    limit = _raise_open_files()
    workload = Workload.generate(SPEC, size=100, seed=1)
    conversations = workload.conversations()
    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "open_file_limit": limit, "concurrency": args.concurrency, "seconds": args.seconds,
        "pool": len(conversations),
    }
    with tempfile.TemporaryDirectory(prefix="wscheck-bench-") as tmp, server() as (address, proc):
        pool_file = Path(tmp) / "pool.json"
        write_conversations(pool_file, conversations)
        result.update(throughput(address, pool_file, conversations, args.concurrency,
                                 args.seconds, args.rounds))
        print_throughput(result)
        if args.sessions:
            # Sessions that stay open: no bye, no client close or drop, no refusal. The
            # others would only churn connections, and measure the server's throughput.
            holding = [c for c in conversations if _holds(c)]
            write_conversations(pool_file, holding)
            result.update(sessions(address, proc.pid, pool_file, args.sessions, args.hold,
                                   args.spawn_rate, slack, margin))
            print_sessions(result)
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


def print_throughput(r: dict[str, Any]) -> None:
    print(f"{r['concurrency']} concurrent clients, best of {r['rounds']} rounds of "
          f"{r['seconds']:g} s, reference app "
          f"under uvicorn (one process), {r['pool']} generated conversations")
    print(f"{'client':<44} {'conv/s':>8} {'ratio':>6} {'conv/CPU-s':>11} {'ratio':>6}")
    for key, label in (("websockets", "websockets, checks nothing"),
                       ("url_driver", "wscheck UrlDriver (asyncio), verified"),
                       ("locust", "wscheck load, 1 Locust process, verified")):
        per_s, per_cpu = r[f"{key}_conversations_per_s"], r[f"{key}_conversations_per_cpu_s"]
        base_s, base_cpu = r["websockets_conversations_per_s"], \
            r["websockets_conversations_per_cpu_s"]
        print(f"{label:<44} {per_s:>8.0f} {per_s / base_s:>6.2f} {per_cpu:>11.0f} "
              f"{per_cpu / base_cpu:>6.2f}")
    print(f"mismatches: locust {r['locust_mismatches']}, url driver {r['url_driver_mismatches']}",
          flush=True)


def print_sessions(r: dict[str, Any]) -> None:
    print(f"{r['sessions_users']} users: peak {r['sessions_peak_open']} sessions open at once "
          f"on the server, {r['sessions_conversations']} conversations verified, "
          f"{r['sessions_mismatches']} mismatches {r['sessions_differences']}, "
          f"{r['sessions_kit_errors']} kit errors; "
          f"client {r['sessions_client_bytes_per_session'] / 1024:.1f} KiB per session "
          f"(peak RSS {r['sessions_client_peak_rss'] / 2**20:.0f} MiB), server "
          f"{r['sessions_server_bytes_per_session'] / 1024:.1f} KiB per session", flush=True)


if __name__ == "__main__":
    sys.exit(main())
