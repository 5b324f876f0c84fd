"""Peak memory of a whole run against hostile targets: each case bounded, none near 300 MB.

Every case runs the full suite (``pytest --wscheck-url`` or ``--wscheck-app``) in a child
process of its own, from an empty directory, and reports the child's peak resident memory
(``resource.getrusage``, ``ru_maxrss``), its wall time and its exit status. Network targets
are raw asyncio servers in a thread of the same child (they stream what they send, so their
own memory is small); in-process apps run in the kit's loop, so what they allocate counts.

Usage::

    python benchmarks/memory.py              # every case, a table
    python benchmarks/memory.py --json       # one JSON line per case
    python benchmarks/memory.py --case url-huge-frame

The exit status is 1 when a case goes over ``--bound`` MB (default 300) or does not end
within ``--deadline`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# --- hostile network servers (raw TCP: what no WebSocket library would send) -----------------


async def _accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key:"))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    await writer.drain()


def _header(opcode: int, length: int) -> bytes:
    return bytes([0x80 | opcode, 127]) + struct.pack("!Q", length)


async def _stream(writer: asyncio.StreamWriter, total: int) -> None:
    chunk = b"\0" * 65536
    sent = 0
    while sent < total:
        writer.write(chunk[:total - sent])
        await writer.drain()
        sent += len(chunk)


async def huge_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A frame announcing 2^63-1 bytes, its payload streamed (up to 4 GB)."""
    await _accept(reader, writer)
    writer.write(_header(0x2, 2**63 - 1))
    await _stream(writer, 4 << 30)


async def replies_100mb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every frame it reads with a 100 MB binary message."""
    await _accept(reader, writer)
    while await reader.read(65536):
        writer.write(_header(0x2, 100 << 20))
        await _stream(writer, 100 << 20)


async def replies_under_16mib(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
    """Answers every frame it reads with a text message one byte under the client's 16 MiB
    limit: each is legal, so the client keeps it (and a failing check's transcript did,
    whole, for every check)."""
    await _accept(reader, writer)
    size = (16 << 20) - 1
    chunk = b"a" * 65536
    while await reader.read(65536):
        writer.write(_header(0x1, size))
        sent = 0
        while sent < size:
            writer.write(chunk[:size - sent])
            await writer.drain()
            sent += len(chunk)


async def drips_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 101 whose headers never end, one byte every 0.1 s."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    while True:
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.1)


SERVERS: dict[str, Handler] = {
    "url-huge-frame": huge_frame,
    "url-100mb-replies": replies_100mb,
    "url-16mib-replies": replies_under_16mib,
    "url-drip-headers": drips_headers,
}

# --- hostile in-process apps ---------------------------------------------------------------

APPS = '''
async def _start(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive(); await send({"type": "lifespan.startup.complete"})
        await receive(); await send({"type": "lifespan.shutdown.complete"})
        return False
    await receive()
    await send({"type": "websocket.accept"})
    return True


async def floods(scope, receive, send):
    """Sends forever, never waiting for anything."""
    if await _start(scope, receive, send):
        while True:
            await send({"type": "websocket.send", "text": "x" * 100})


async def replies_100mb(scope, receive, send):
    """Answers every message with 100 MB (allocated by the app, in the same process)."""
    if await _start(scope, receive, send):
        while (await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "bytes": b"x" * (100 << 20)})
'''

CASES = ["url-huge-frame", "url-100mb-replies", "url-16mib-replies", "url-drip-headers",
         "asgi-floods", "asgi-100mb-replies", "asgi-reference"]


def _serve(handler: Handler) -> str:
    """Start ``handler``'s server in a daemon thread; its ws:// URL."""
    ready: list[str] = []
    started = threading.Event()

    async def main() -> None:
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass  # the client failed the connection, as it should
            finally:
                writer.close()

        server = await asyncio.start_server(run, "127.0.0.1", 0)
        ready.append(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        started.set()
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
    if not started.wait(10):
        raise SystemExit("the hostile server did not start")
    return ready[0]


def child(case: str) -> None:
    """Run the suite against ``case`` in this process; print one JSON line."""
    # This script's directory holds benchmarks/xdist.py, which would shadow pytest-xdist.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    import pytest

    workdir = Path(tempfile.mkdtemp(prefix="wscheck-memory-"))
    os.chdir(workdir)
    args = ["-p", "no:cacheprovider", "-q", "--wscheck-timeout=1", "--wscheck-examples=10"]
    if case.startswith("url-"):
        args.append(f"--wscheck-url={_serve(SERVERS[case])}")
    elif case == "asgi-reference":
        sys.path.insert(0, str(ROOT))
        args.append("--wscheck-app=reference_app:create_app()")
    else:
        (workdir / "hostile_apps.py").write_text(APPS)
        sys.path.insert(0, str(workdir))
        app = {"asgi-floods": "floods", "asgi-100mb-replies": "replies_100mb"}[case]
        args.append(f"--wscheck-app=hostile_apps:{app}")
    started = time.monotonic()
    status = int(pytest.main(args))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"case": case, "peak_rss_mb": round(peak, 1), "status": status,
                      "seconds": round(time.monotonic() - started, 1)}))
    sys.stdout.flush()
    os._exit(0)  # the hostile server thread is a daemon; nothing to wait for


def measure(case: str, deadline: float) -> dict[str, Any]:
    """Run ``case`` in a child process; its result line, or a timeout."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True,
                              text=True, timeout=deadline, check=False)
    except subprocess.TimeoutExpired:
        return {"case": case, "peak_rss_mb": None, "status": None,
                "seconds": round(time.monotonic() - started, 1), "timed_out": True}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    return {"case": case, "peak_rss_mb": None, "status": done.returncode,
            "seconds": round(time.monotonic() - started, 1),
            "error": (done.stdout + done.stderr)[-2000:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, action="append")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--bound", type=float, default=300.0, help="MB per case")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if options.child:
        child(options.child)
        return 0
    failed = False
    if not options.json:
        print(f"{'case':<22} {'peak RSS MB':>12} {'seconds':>8} {'exit':>5}")
    for case in options.case or CASES:
        result = measure(case, options.deadline)
        peak = result["peak_rss_mb"]
        failed |= peak is None or peak > options.bound
        if options.json:
            print(json.dumps(result))
        else:
            shown = "timeout" if result.get("timed_out") else (
                "error" if peak is None else f"{peak:.0f}")
            print(f"{case:<22} {shown:>12} {result['seconds']:>8} {result['status']!s:>5}")
            if "error" in result:
                print(result["error"])
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
