"""The rfc6455 suite's verdict tables for real servers, checked in under
``tests/rfc6455/verdicts/<server>.json`` and compared by tests/rfc6455/test_servers.py.

``python -m tests.rfc6455.tables [SERVER ...]`` runs the suite against each server (all by
default) and writes its table: ``{case id: verdict}``, in the report's words. A table
changes when a server's behaviour (or the suite) changes, and the diff says which case.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.rfc6455.suite import rfc6455_verdicts
from tests.servers import serve_subprocess, serve_uvicorn

TABLES = Path(__file__).resolve().parent / "verdicts"
NODE_ECHO = Path(__file__).resolve().parent.parent / "node" / "echo.js"
ECHO_APP = "tests.rfc6455.echo_app:app"


@contextlib.contextmanager
def _uvicorn(ws: str) -> Iterator[str]:
    import warnings

    from tests.rfc6455.echo_app import app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uvicorn's deprecation of --ws websockets
        with serve_uvicorn(app, ws=ws, lifespan="off") as address:
            yield f"ws://{address}/"


@contextlib.contextmanager
def _subprocess(server: str, target: str) -> Iterator[str]:
    with serve_subprocess(server, target) as running:
        yield f"ws://{running.address}/"


#: Each server the tables cover, and how to start it serving an echo endpoint.
SERVERS: dict[str, Callable[[], contextlib.AbstractContextManager[str]]] = {
    "uvicorn-websockets": lambda: _uvicorn("websockets"),
    "uvicorn-websockets-sansio": lambda: _uvicorn("websockets-sansio"),
    "uvicorn-wsproto": lambda: _uvicorn("wsproto"),
    "hypercorn": lambda: _subprocess("hypercorn", ECHO_APP),
    "daphne": lambda: _subprocess("daphne", ECHO_APP),
    "websockets": lambda: _subprocess("python", "tests.rfc6455.websockets_echo"),
    "node-ws": lambda: _subprocess("node", str(NODE_ECHO)),
}


def table(server: str, **kwargs: Any) -> dict[str, str]:
    """The suite's verdicts against ``server``: ``{case id: verdict}``."""
    with SERVERS[server]() as url:
        return {case: word for case, (word, _) in rfc6455_verdicts(url, **kwargs).items()}


def checked_in(server: str) -> dict[str, str]:
    return json.loads((TABLES / f"{server}.json").read_text(encoding="utf-8"))


def main(names: list[str]) -> None:
    TABLES.mkdir(exist_ok=True)
    for server in names or list(SERVERS):
        found = table(server)
        (TABLES / f"{server}.json").write_text(json.dumps(found, indent=1) + "\n",
                                               encoding="utf-8")
        counts: dict[str, int] = {}
        for word in found.values():
            counts[word] = counts.get(word, 0) + 1
        print(f"{server}: {counts}")


if __name__ == "__main__":
    main(sys.argv[1:])
