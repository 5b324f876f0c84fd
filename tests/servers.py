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
from typing import Any

import uvicorn


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@contextlib.contextmanager
def capture_logs(*names: str) -> Iterator[list[logging.LogRecord]]:
    """Collect records at WARNING and above from the named loggers (default: uvicorn's and
    the root), so a test can assert that a server logged no error."""
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Collect(level=logging.WARNING)
    loggers = [logging.getLogger(n) for n in (names or ("", "uvicorn", "uvicorn.error",
                                                         "uvicorn.asgi"))]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield records
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
