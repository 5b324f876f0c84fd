"""The app's lifespan around a run: startup before the first connection, shutdown after.

The ASGI lifespan protocol through asgi-lifespan's ``LifespanManager``, with what the kit adds:
the lifespan scope carries the ``asgi`` versions ASGI servers (uvicorn, hypercorn) put there,
which ``LifespanManager`` leaves out (Falcon refuses a scope without them); every connection
gets a shallow copy of the lifespan ``state``; an app that sends
``lifespan.startup.failed`` stops the run with its message; an app that does not speak lifespan
is used as it is; and a startup that blocks the loop is caught by the watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from asgi_lifespan import LifespanManager, LifespanNotSupported

from wscheck.drivers._appguard import ASGIApp, Message, Receive, Send, call_app, guard_loop
from wscheck.drivers._watchdog import watchdog_for
from wscheck.errors import WscheckError

__all__ = ["LIFESPAN_ASGI", "LifespanStartupFailed", "lifespan"]

#: The ``asgi`` key of the lifespan scope, as uvicorn and hypercorn send it: an app may refuse
#: a scope without it (the spec says a missing ``version`` means 2.0, and Falcon, say, needs 3).
LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}


class _LifespanReturnedError(WscheckError):
    """The app returned from the lifespan scope without completing startup."""


class LifespanStartupFailed(WscheckError):
    """The app sent ``lifespan.startup.failed``: the ASGI spec says the server must not start
    it, so the run stops with the app's message."""


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp, timeout: float = 10.0) -> AsyncIterator[ASGIApp]:
    """Run ``app``'s lifespan startup and shutdown around the block, if it supports lifespan.

    Yields the app to call: wrapped so that every connection's scope gets a shallow copy of the
    lifespan ``state``, as the ASGI spec asks (frameworks such as Litestar cache per-connection
    data there; a shared dict would leak one connection's into the next). An app that refuses
    the lifespan scope (raises before ``receive()``, or simply returns, as many raw ASGI apps
    do) is used as it is, as uvicorn's ``lifespan="auto"`` does.
    A startup failure is the app's own error and propagates; so does an app that sends
    ``lifespan.startup.failed`` (as :class:`LifespanStartupFailed`, with its message).
    """

    async def guarded(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        async def watched(message: Message) -> None:
            if message.get("type") == "lifespan.startup.failed":
                failed.append(str(message.get("message", "")))
                raise LifespanStartupFailed  # stops the app's startup, as a server would
            await send(message)

        if scope["type"] == "lifespan":
            # LifespanManager's scope is {"type", "state"} only: complete it as servers do.
            scope.setdefault("asgi", dict(LIFESPAN_ASGI))
            if "state" in scope:
                state["dict"] = scope["state"]  # the dict the app fills during startup
        await call_app(app, scope, receive, watched if scope["type"] == "lifespan" else send)
        if scope["type"] == "lifespan" and not started:
            raise _LifespanReturnedError

    async def per_connection(scope: MutableMapping[str, Any], receive: Receive,
                             send: Send) -> None:
        scope["state"] = dict(state.get("dict", {}))
        await app(scope, receive, send)

    state: dict[str, Any] = {}  # holds the lifespan state dict under "dict", once started
    started = False
    failed: list[str] = []  # the message of a lifespan.startup.failed
    loop = asyncio.get_running_loop()
    guard_loop(loop)
    # A startup that blocks the loop is seen from another thread (see ._watchdog).
    watchdog = watchdog_for(loop, timeout)
    manager = LifespanManager(guarded, startup_timeout=timeout, shutdown_timeout=timeout)
    if not await _start_up(manager, failed, timeout):
        yield app
        return
    started = True
    try:
        yield per_connection
    finally:
        watchdog.linger("lifespan", "the app's lifespan shutdown never ended")
        try:
            await manager.__aexit__(None, None, None)
        finally:
            watchdog.linger("lifespan", None)


async def _start_up(manager: LifespanManager, failed: list[str], timeout: float) -> bool:
    """Run the app's lifespan startup: True once it completed, False when the app does not
    speak lifespan; its failure (``failed`` holds a ``lifespan.startup.failed`` message) or a
    startup past ``timeout`` raises, worded for the user."""
    try:
        await manager.__aenter__()
    except Exception as exc:
        if failed:
            raise LifespanStartupFailed(
                "the app's lifespan startup failed (lifespan.startup.failed): "
                + (failed[0] or "no message")) from None
        if isinstance(exc, TimeoutError):
            raise TimeoutError(
                f"the app's lifespan startup did not complete within {timeout:g}s") from None
        if not isinstance(exc, (LifespanNotSupported, _LifespanReturnedError)):
            raise
        return False
    return True
