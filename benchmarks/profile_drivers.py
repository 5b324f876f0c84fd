"""Where the drivers spend their time: pyinstrument profiles saved as text.

Profiles, each of the client side only (uvicorn runs in a child process):

* ``asgi_roundtrips.txt``: one in-process connection, lock-step round trips;
* ``asgi_concurrent.txt``: thousands of concurrent in-process sessions, each verified;
* ``url_roundtrips.txt``: one connection to uvicorn, lock-step round trips;
* ``url_connections.txt``: open, one round trip, close, one after another;
* ``websockets_roundtrips.txt``: the ``websockets`` client doing the same, for comparison.

Usage: ``python benchmarks/profile_drivers.py [--out benchmarks/profiles]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent))

import roundtrip as rt

from wscheck.drivers.asgi import AsgiDriver


def _profile(out: Path, name: str, fn: Callable[[], Awaitable[None]]) -> None:
    async def run() -> None:
        await fn()  # warm up (imports, first connection), not profiled
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        await fn()
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        (out / f"{name}.txt").write_text(text)
        print(f"{name}: {profiler.last_session.duration if profiler.last_session else 0:.2f} s"
              f" -> {out / (name + '.txt')}")

    asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "profiles")
    parser.add_argument("--round-trips", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = rt.reference_app

    _profile(args.out, "asgi_roundtrips",
             lambda: rt.WscheckAsgi(app).round_trips(args.round_trips))

    async def concurrent() -> None:
        await rt.concurrent_sessions(AsgiDriver(app, timeout=60.0), args.sessions)

    _profile(args.out, "asgi_concurrent", concurrent)
    with rt.uvicorn_server() as url:
        _profile(args.out, "url_roundtrips",
                 lambda: rt.WscheckUrl(url).round_trips(args.round_trips // 4))
        _profile(args.out, "url_connections",
                 lambda: rt.WscheckUrl(url).connections(args.connections))
        _profile(args.out, "websockets_roundtrips",
                 lambda: rt.WebsocketsUrl(url).round_trips(args.round_trips // 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
