"""How fast wscheck's drivers move messages, next to the limit and to other clients.

Everything is measured in one run, against the same app (the reference app, ``/ws``), so the
ratios hold even on a shared, noisy machine where the absolute figures do not:

* in-process: a raw ASGI loop through asyncio queues (the limit), wscheck's ``AsgiDriver``,
  httpx-ws's ``ASGIWebSocketTransport`` and Starlette's ``TestClient``;
* over loopback, against one uvicorn server in a child process: the ``websockets`` client and
  wscheck's ``UrlDriver``;
* scale: thousands of concurrent sessions, each run by
:func:`wscheck.run.conversation.run_conversation`
  and its transcript compared with the model's, all of them open at the same moment;
* the default suite in-process, and the cost of 100, 1,000 and 10,000 messages.

Round trips (``*_rt_per_s``): one connection, lock-step ``send`` then ``receive`` of a short
message. Connections (``*_conn_per_s``): open, one round trip, close, one after another. Each
figure is the best of ``--repeat`` rounds, the clients taking turns within a round.

Usage::

    python benchmarks/roundtrip.py            # the table, then one JSON line
    python benchmarks/roundtrip.py --json     # the same; the JSON object is the last line
    python benchmarks/roundtrip.py --quick    # tiny sizes (the smoke test)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reference_app import app as reference_app  # noqa: E402
from wscheck.core.events import Accepted, Conversation, Text  # noqa: E402
from wscheck.core.spec import Spec  # noqa: E402
from wscheck.drivers.asgi import AsgiDriver, lifespan  # noqa: E402
from wscheck.drivers.base import Connection, Driver  # noqa: E402
from wscheck.drivers.url import UrlDriver  # noqa: E402
from wscheck.run.conversation import Observation, run_conversation  # noqa: E402

__all__ = ["ROOT", "concurrent_sessions", "main", "reference_app", "uvicorn_server"]

SPEC = Spec()
assert SPEC.echo is not None
PATH = SPEC.echo.url_path()
MESSAGE = "hello"
REPLY = SPEC.echo.render_reply(MESSAGE)


@dataclass(frozen=True)
class Sizes:
    round_trips: int
    connections: int
    sessions_asgi: int
    sessions_url: int
    curve: tuple[int, ...]
    repeat: int
    examples: int


FULL = Sizes(round_trips=3000, connections=300, sessions_asgi=10_000, sessions_url=1000,
             curve=(100, 1000, 10_000), repeat=5, examples=100)
QUICK = Sizes(round_trips=50, connections=10, sessions_asgi=20, sessions_url=10,
              curve=(10, 100), repeat=1, examples=5)


# --- the clients ------------------------------------------------------------------------------


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "websocket", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "scheme": "ws", "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000), "root_path": "", "path": path,
        "raw_path": path.encode(), "query_string": b"", "headers": [(b"host", b"testserver")],
        "subprotocols": [], "extensions": {},
    }


class RawAsgi:
    """The limit: the app called directly, its messages through two asyncio queues."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def open(self) -> tuple[asyncio.Queue[Any], asyncio.Queue[Any], asyncio.Task[None]]:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        outbox: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.create_task(self.app(_scope(PATH), inbox.get, outbox.put))
        inbox.put_nowait({"type": "websocket.connect"})
        accept = await outbox.get()
        assert accept["type"] == "websocket.accept", accept
        return inbox, outbox, task

    async def round_trips(self, n: int) -> None:
        inbox, outbox, task = await self.open()
        for _ in range(n):
            inbox.put_nowait({"type": "websocket.receive", "text": MESSAGE})
            reply = await outbox.get()
            assert reply["text"] == REPLY
        inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await task

    async def connections(self, n: int) -> None:
        for _ in range(n):
            await self.round_trips(1)


class WscheckAsgi:
    def __init__(self, app: Any) -> None:
        self.driver = AsgiDriver(app)

    async def _conversation(self, n: int) -> None:
        conn = await self.driver.connect(PATH)
        assert conn.handshake == Accepted(), conn.handshake
        for _ in range(n):
            await conn.send_text(MESSAGE)
            reply = await conn.receive()
            assert reply == Text(REPLY), reply
        await conn.close()

    async def round_trips(self, n: int) -> None:
        await self._conversation(n)

    async def connections(self, n: int) -> None:
        for _ in range(n):
            await self._conversation(1)


class HttpxWsAsgi:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def _conversations(self, count: int, n: int) -> None:
        import httpx
        from httpx_ws import aconnect_ws
        from httpx_ws.transport import ASGIWebSocketTransport

        async with httpx.AsyncClient(transport=ASGIWebSocketTransport(self.app),
                                     base_url="http://testserver") as client:
            for _ in range(count):
                ws: Any
                async with aconnect_ws(PATH, client) as ws:
                    for _ in range(n):
                        await ws.send_text(MESSAGE)
                        assert await ws.receive_text() == REPLY

    async def round_trips(self, n: int) -> None:
        await self._conversations(1, n)

    async def connections(self, n: int) -> None:
        await self._conversations(n, 1)


class TestClientAsgi:
    """Starlette's TestClient is synchronous: it runs in a worker thread."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def _conversations(self, count: int, n: int) -> None:
        from starlette.testclient import TestClient

        with TestClient(self.app) as client:
            for _ in range(count):
                with client.websocket_connect(PATH) as ws:
                    for _ in range(n):
                        ws.send_text(MESSAGE)
                        assert ws.receive_text() == REPLY

    async def round_trips(self, n: int) -> None:
        await asyncio.to_thread(self._conversations, 1, n)

    async def connections(self, n: int) -> None:
        await asyncio.to_thread(self._conversations, n, 1)


class WebsocketsUrl:
    def __init__(self, url: str) -> None:
        self.url = url + PATH

    async def _conversation(self, n: int) -> None:
        from websockets.asyncio.client import connect

        async with connect(self.url, compression=None) as ws:
            for _ in range(n):
                await ws.send(MESSAGE)
                assert await ws.recv() == REPLY

    async def round_trips(self, n: int) -> None:
        await self._conversation(n)

    async def connections(self, n: int) -> None:
        for _ in range(n):
            await self._conversation(1)


class WscheckUrl(WscheckAsgi):
    def __init__(self, url: str) -> None:
        self.driver = UrlDriver(url)  # type: ignore[assignment]


# --- measuring -------------------------------------------------------------------------------


async def _rate(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    await fn(n)
    return n / (time.perf_counter() - start)


async def throughput(clients: dict[str, Any], sizes: Sizes) -> dict[str, float]:
    """Best of ``sizes.repeat`` rounds; in each round every client takes its turn."""
    best: dict[str, float] = {}
    for client in clients.values():  # warm up: imports, first connection, caches
        await client.round_trips(min(20, sizes.round_trips))
    for _ in range(sizes.repeat):
        for name, client in clients.items():
            rt = await _rate(client.round_trips, sizes.round_trips)
            conn = await _rate(client.connections, sizes.connections)
            best[f"{name}_rt_per_s"] = max(best.get(f"{name}_rt_per_s", 0.0), rt)
            best[f"{name}_conn_per_s"] = max(best.get(f"{name}_conn_per_s", 0.0), conn)
    return best


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class _TogetherDriver:
    """Delegates to a driver; ``connect`` returns only once ``total`` connections are open, so
    that every session really is open at the same moment. Records the RSS at that moment."""

    def __init__(self, inner: Driver, total: int) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.target = inner.target
        self.timeout = inner.timeout
        self._total = total
        self._opened = 0
        self._all_open = asyncio.Event()
        self.rss_all_open = 0
        self.open_seconds = 0.0
        self._start = time.perf_counter()

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = (), *,
                      origin: bool = False) -> Connection:
        conn = await self.inner.connect(path, query, cookies, origin=origin)
        self._opened += 1
        if self._opened == self._total:
            self.open_seconds = time.perf_counter() - self._start
            self.rss_all_open = _rss_bytes()
            self._all_open.set()
        await self._all_open.wait()
        return conn

    async def aclose(self) -> None:
        await self.inner.aclose()


def _session(i: int) -> Conversation:
    # Different messages and lengths per session, so that a reply delivered to the wrong
    # session would show in its transcript.
    return Conversation.of(PATH, f"session {i}", f"{i}" * (1 + i % 7), f"last of {i}")


async def concurrent_sessions(driver: Driver, n: int) -> dict[str, float]:
    """``n`` sessions open at once, each run and verified by ``run_conversation``."""
    gc.collect()
    before = _rss_bytes()
    together = _TogetherDriver(driver, n)
    start = time.perf_counter()
    results = await asyncio.gather(*(run_conversation(together, SPEC, _session(i))
                                     for i in range(n)), return_exceptions=True)
    seconds = time.perf_counter() - start
    verified = sum(1 for r in results if isinstance(r, Observation) and r.ok
                   and len(r.observed) == 4)  # accept and the 3 echoes
    errors = [r for r in results if not (isinstance(r, Observation) and r.ok)]
    if errors:
        print(f"  {len(errors)} of {n} sessions not verified, first: {errors[0]!r}",
              file=sys.stderr)
    return {
        "verified": verified,
        "seconds": seconds,
        "open_seconds": together.open_seconds,
        "rss_per_session_bytes": max(0, together.rss_all_open - before) / n,
    }


async def cost_curve(app: Any, sizes: Sequence[int]) -> list[dict[str, float]]:
    """Seconds for ``n`` lock-step messages through one in-process connection."""
    client = WscheckAsgi(app)
    await client.round_trips(50)
    points = []
    for n in sizes:
        gc.collect()
        start = time.perf_counter()
        await client.round_trips(n)
        seconds = time.perf_counter() - start
        points.append({"messages": n, "seconds": seconds, "us_per_message": seconds / n * 1e6})
    base = points[0]["us_per_message"]
    for p in points:
        p["per_message_vs_smallest"] = p["us_per_message"] / base
    return points


async def suite_seconds(driver: Driver, examples: int) -> tuple[float, int, int]:
    """Every check of the default suite, one after another, as the plugin runs them."""
    from wscheck.run.registry import SUITE, Context

    ctx = Context(SPEC, driver, examples)
    passed = failed = 0
    start = time.perf_counter()
    for chk in SUITE.all():
        if chk.not_applicable(SPEC) is not None:
            continue
        verdict = await chk.run(ctx)
        if verdict.passed:
            passed += 1
        else:
            failed += 1
    return time.perf_counter() - start, passed, failed


# --- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(app: str = "reference_app:app",
                   path: Path | None = None, log_level: str = "warning") -> Iterator[str]:
    """``app`` (default the reference app) under uvicorn in a child process (its own
    interpreter and GIL, as a real server would be), importable from the checkout or from
    ``path``, logging at ``log_level``; yields ``ws://127.0.0.1:PORT``."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(path) if path else None, str(ROOT), str(ROOT / "benchmarks"),
        os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
         "--port", str(port), "--log-level", log_level, "--backlog", "4096"],
        cwd=ROOT, stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 256
    if soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# --- the run ----------------------------------------------------------------------------------


async def measure(sizes: Sizes, *, suite_url: bool) -> dict[str, Any]:
    app = reference_app
    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
                   f"{platform.release()}, Python {platform.python_version()}",
        "sizes": {"round_trips": sizes.round_trips, "connections": sizes.connections,
                  "repeat": sizes.repeat},
    }
    _raise_nofile(2 * sizes.sessions_url + 64)
    asgi_clients = {"raw_asgi": RawAsgi(app), "wscheck_asgi": WscheckAsgi(app),
                    "httpx_ws_asgi": HttpxWsAsgi(app), "testclient": TestClientAsgi(app)}
    result.update(await throughput(asgi_clients, sizes))

    with uvicorn_server() as url:
        wscheck_url = WscheckUrl(url)
        url_clients = {"websockets_url": WebsocketsUrl(url), "wscheck_url": wscheck_url}
        result.update(await throughput(url_clients, sizes))
        await wscheck_url.driver.aclose()
        driver = UrlDriver(url, timeout=30.0)
        scale_url = await concurrent_sessions(driver, sizes.sessions_url)
        await driver.aclose()
        if suite_url:
            from wscheck.core.defaults import DEFAULT_EXAMPLES_URL

            driver = UrlDriver(url)
            seconds, passed, failed = await suite_seconds(
                driver, min(sizes.examples, DEFAULT_EXAMPLES_URL))
            await driver.aclose()
            result["suite_seconds_url"] = seconds
            result["suite_url_checks"] = {"passed": passed, "failed": failed}

    async with lifespan(app) as started:
        scale_asgi = await concurrent_sessions(AsgiDriver(started, timeout=60.0),
                                               sizes.sessions_asgi)
        seconds, passed, failed = await suite_seconds(AsgiDriver(started), sizes.examples)
    result["suite_seconds_asgi"] = seconds
    result["suite_asgi_checks"] = {"passed": passed, "failed": failed}

    result["concurrent_asgi_sessions"] = sizes.sessions_asgi
    result["concurrent_asgi_sessions_verified"] = scale_asgi["verified"]
    result["concurrent_asgi_seconds"] = scale_asgi["seconds"]
    result["concurrent_asgi_bytes_per_session"] = round(scale_asgi["rss_per_session_bytes"])
    result["concurrent_url_sessions"] = sizes.sessions_url
    result["concurrent_url_sessions_verified"] = scale_url["verified"]
    result["concurrent_url_seconds"] = scale_url["seconds"]
    result["concurrent_url_bytes_per_session"] = round(scale_url["rss_per_session_bytes"])
    result["cost_curve"] = await cost_curve(app, sizes.curve)

    result["wscheck_asgi_vs_raw"] = result["wscheck_asgi_rt_per_s"] / result["raw_asgi_rt_per_s"]
    result["wscheck_asgi_vs_testclient"] = (result["wscheck_asgi_rt_per_s"]
                                            / result["testclient_rt_per_s"])
    result["wscheck_asgi_vs_httpx_ws"] = (result["wscheck_asgi_rt_per_s"]
                                          / result["httpx_ws_asgi_rt_per_s"])
    result["wscheck_url_vs_websockets"] = (result["wscheck_url_rt_per_s"]
                                           / result["websockets_url_rt_per_s"])
    result["wscheck_asgi_conn_vs_raw"] = (result["wscheck_asgi_conn_per_s"]
                                          / result["raw_asgi_conn_per_s"])
    result["wscheck_url_conn_vs_websockets"] = (result["wscheck_url_conn_per_s"]
                                                / result["websockets_url_conn_per_s"])
    return result


def table(r: dict[str, Any]) -> str:
    rows = [
        ("raw ASGI loop (the limit)", "raw_asgi", "raw_asgi"),
        ("wscheck AsgiDriver", "wscheck_asgi", "raw_asgi"),
        ("httpx-ws ASGIWebSocketTransport", "httpx_ws_asgi", "raw_asgi"),
        ("Starlette TestClient", "testclient", "raw_asgi"),
        ("websockets client, uvicorn", "websockets_url", "websockets_url"),
        ("wscheck UrlDriver, uvicorn", "wscheck_url", "websockets_url"),
    ]
    out = [f"{r['date']}, {r['machine']}", "",
           f"{'client':34} {'round trips/s':>14} {'ratio':>7} {'conn/s':>9} {'ratio':>7}"]
    for label, key, ref in rows:
        rt, conn = r[f"{key}_rt_per_s"], r[f"{key}_conn_per_s"]
        out.append(f"{label:34} {rt:14,.0f} {rt / r[f'{ref}_rt_per_s']:7.2f} "
                   f"{conn:9,.0f} {conn / r[f'{ref}_conn_per_s']:7.2f}")
    out += [
        "",
        f"concurrent sessions in-process: {r['concurrent_asgi_sessions_verified']:,} of "
        f"{r['concurrent_asgi_sessions']:,} verified in {r['concurrent_asgi_seconds']:.2f} s, "
        f"{r['concurrent_asgi_bytes_per_session'] / 1024:.1f} KiB each",
        f"concurrent sessions over uvicorn: {r['concurrent_url_sessions_verified']:,} of "
        f"{r['concurrent_url_sessions']:,} verified in {r['concurrent_url_seconds']:.2f} s, "
        f"{r['concurrent_url_bytes_per_session'] / 1024:.1f} KiB each (client side)",
        f"default suite in-process: {r['suite_seconds_asgi']:.2f} s "
        f"({r['suite_asgi_checks']['passed']} passed, {r['suite_asgi_checks']['failed']} failed)",
    ]
    if "suite_seconds_url" in r:
        out.append(f"default suite over uvicorn: {r['suite_seconds_url']:.2f} s "
                   f"({r['suite_url_checks']['passed']} passed, "
                   f"{r['suite_url_checks']['failed']} failed)")
    out.append("cost per message, one in-process connection: " + ", ".join(
        f"{p['messages']:,}: {p['seconds']:.3f} s ({p['us_per_message']:.1f} us, "
        f"x{p['per_message_vs_smallest']:.2f})" for p in r["cost_curve"]))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true",
                        help="end with the figures as one JSON line (always printed last)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--round-trips", type=int, help="messages per round-trip measurement")
    parser.add_argument("--connections", type=int, help="connections per connection measurement")
    parser.add_argument("--sessions-asgi", type=int, help="concurrent in-process sessions")
    parser.add_argument("--sessions-url", type=int, help="concurrent sessions over uvicorn")
    parser.add_argument("--repeat", type=int, help="rounds; the best of them is reported")
    parser.add_argument("--no-suite-url", action="store_true",
                        help="skip timing the default suite over uvicorn")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    overrides = {k: v for k, v in {
        "round_trips": args.round_trips, "connections": args.connections,
        "sessions_asgi": args.sessions_asgi, "sessions_url": args.sessions_url,
        "repeat": args.repeat}.items() if v is not None}
    if overrides:
        sizes = Sizes(**{**sizes.__dict__, **overrides})
    result = asyncio.run(measure(sizes, suite_url=not args.no_suite_url))
    print(table(result), flush=True)
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
