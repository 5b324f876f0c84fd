"""Fixtures shared by the kit's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from reference_app import create_app
from tests.servers import LiveServer, capture_logs, serve_uvicorn


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto`` (the default, see pyproject.toml): one per CPU. More workers
    than CPUs made the timing-sensitive tests (load crowds, overlapping runs) compete for
    the CPU with each other and fail now and then."""
    return os.cpu_count() or 1


@pytest.fixture
def reference_server() -> Iterator[LiveServer]:
    """The reference app (default spec) under uvicorn on a free loopback port."""
    with capture_logs() as records, serve_uvicorn(create_app()) as address:
        yield LiveServer(address, records)


# FastAPI's tutorials, fetched from the installed version's sdist (tests/fastapi_docs.py).
from tests.fastapi_docs import fastapi_tutorials  # noqa: E402, F401
