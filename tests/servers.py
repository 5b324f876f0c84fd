"""Real servers for the tests: uvicorn in a thread on a free loopback port.

Every server is started by the test that needs it and stopped when it is done, so the suite
needs nothing running beforehand and never touches anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
