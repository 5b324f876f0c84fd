"""Soak the reference app: many messages over one WebSocket connection, memory watched.

The reference app runs as ``python -m reference_app`` in a child process on a free loopback
port (so the memory measured is the server's alone); one ``websockets`` client sends
``--messages`` distinct messages over a single connection, ``--window`` at a time, checks
every reply, and samples the server's resident memory (``VmRSS``, Linux) along the way.

Usage::

    python benchmarks/soak.py                     # 100,000 messages
    python benchmarks/soak.py --messages 1000000  # longer
    python benchmarks/soak.py --json              # one JSON line at the end

The exit status is 1 when a reply is wrong or the growth after warm-up exceeds ``--bound``
MB. ``tests/test_reference_load.py`` runs the same soak, shorter, in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "接收到的消息是:"
TIMEOUT = 10.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc (Linux only)")


@contextlib.contextmanager
def reference_app() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    process = subprocess.Popen([sys.executable, "-m", "reference_app", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError("the reference app exited early")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the reference app did not listen within 20 s")
            time.sleep(0.05)
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def soak(port: int, pid: int, messages: int, window: int, samples: int,
               ) -> tuple[float, list[tuple[int, float]]]:
    """Returns the seconds taken and (messages sent, RSS MB) samples."""
    every = max(window, messages // samples)
    points: list[tuple[int, float]] = [(0, rss_mb(pid))]
    url = f"ws://127.0.0.1:{port}/ws"
    async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                       max_queue=None) as ws:
        started = time.monotonic()
        sent = 0
        while sent < messages:
            batch = [f"soak {i}" for i in range(sent, min(sent + window, messages))]
            for text in batch:
                await ws.send(text)
            for text in batch:
                reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
                if reply != PREFIX + text:
                    raise AssertionError(f"message {text!r} got {reply!r}")
            sent += len(batch)
            if sent % every < window:
                points.append((sent, rss_mb(pid)))
        elapsed = time.monotonic() - started
        await ws.send("bye")
    points.append((messages, rss_mb(pid)))
    return elapsed, points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=200, help="messages in flight")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--bound", type=float, default=20.0,
                        help="largest acceptable RSS growth after warm-up, MB")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with reference_app() as (process, port):
        asyncio.run(soak(port, process.pid, args.warmup, args.window, 1))
        elapsed, points = asyncio.run(
            soak(port, process.pid, args.messages, args.window, args.samples))
    growth = points[-1][1] - points[0][1]
    result = {
        "messages": args.messages,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(args.messages / elapsed),
        "rss_start_mb": round(points[0][1], 1),
        "rss_end_mb": round(points[-1][1], 1),
        "rss_growth_mb": round(growth, 1),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    for sent, mb in points:
        print(f"{sent:>10,} messages  server RSS {mb:7.1f} MB")
    print(f"{args.messages:,} messages over one connection in {elapsed:.1f} s "
          f"({result['messages_per_s']:,} msg/s); RSS growth {growth:+.1f} MB "
          f"(bound {args.bound:g} MB)")
    if args.json:
        print(json.dumps(result))
    return 0 if growth < args.bound else 1


if __name__ == "__main__":
    sys.exit(main())
