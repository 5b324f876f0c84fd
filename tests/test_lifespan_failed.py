"""An app whose lifespan sends ``lifespan.startup.failed`` is not started: the ASGI spec says a
server must not, so the run stops with the app's message (exit 1) instead of running the
suite against an app that said it cannot work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from typing import Any

import pytest

from wscheck.drivers.asgi import ASGIApp, LifespanStartupFailed, Receive, Send, lifespan

FAILING_APP = """
import asyncio
from reference_app import app as reference


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await reference(scope, receive, send)
"""


async def _fails_and_returns(scope: MutableMapping[str, Any], receive: Receive,
                             send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "database unreachable"})


async def _fails_and_waits(scope: MutableMapping[str, Any], receive: Receive,
                           send: Send) -> None:
    await receive()
    with contextlib.suppress(Exception):  # an app that ignores what its send raised
        await send({"type": "lifespan.startup.failed", "message": "no config"})
    await asyncio.sleep(3600)  # never returns on its own


@pytest.mark.parametrize(("app", "message"), [(_fails_and_returns, "database unreachable"),
                                              (_fails_and_waits, "no config")])
def test_startup_failed_raises_with_the_apps_message(app: ASGIApp, message: str) -> None:
    async def enter() -> None:
        async with lifespan(app, timeout=2.0):
            raise AssertionError("the app was started")  # pragma: no cover

    with pytest.raises(LifespanStartupFailed, match=message):
        asyncio.run(enter())


def test_the_run_stops_with_the_apps_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(failing=FAILING_APP)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio",
                                "--wscheck-app", "failing:app")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "lifespan.startup.failed): database unreachable" in out
    assert "passed" not in out.splitlines()[-1], out
    assert "Traceback" not in out
