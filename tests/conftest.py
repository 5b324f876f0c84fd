"""Fixtures shared by the kit's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from reference_app import create_app
from tests.servers import LiveServer, capture_logs, serve_uvicorn


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto`` (the default, see pyproject.toml): two per CPU. Most tests
    wait (on sockets, subprocesses, servers and the clock) rather than compute: with one
    worker per CPU the everyday run kept the CPUs about half busy."""
    return 2 * (os.cpu_count() or 1)


@pytest.fixture
def reference_server() -> Iterator[LiveServer]:
    """The reference app (default spec) under uvicorn on a free loopback port."""
    with capture_logs() as records, serve_uvicorn(create_app()) as address:
        yield LiveServer(address, records)


# FastAPI's tutorials, fetched from the installed version's sdist (tests/fastapi_docs.py).
from tests.fastapi_docs import fastapi_tutorials  # noqa: E402, F401
