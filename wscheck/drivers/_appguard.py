"""Keeping an in-process app from ending the kit's event loop: the asyncio reach-ins.

asyncio lets ``KeyboardInterrupt`` and ``SystemExit`` escape every task and end the loop, and
``loop.stop()`` stops it from anywhere. The app runs on the kit's loop, so any of the three
from the app would end the kit's run with an INTERNALERROR. Here they become
:class:`AppInterrupted`, the app's own failure: the app is called in a context that marks its
code (and every task it starts, through a task factory), and ``loop.stop`` is guarded.
Everything that leans on asyncio's internals for this lives in this module alone.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    MutableMapping,
)
from typing import Any

from wscheck.drivers._applog import adopt
from wscheck.errors import WscheckError

__all__ = ["ASGIApp", "AppInterrupted", "Message", "Receive", "Send", "call_app",
           "guard_loop"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class AppInterrupted(WscheckError):
    """The app raised ``KeyboardInterrupt`` or ``SystemExit``, or stopped the event loop:
    asyncio lets those escape every task and end the loop, so the kit turns them into the
    app's own failure before they reach it."""


#: True in the app's code (and every task it starts, which copies the context): tells the
#: guarded ``loop.stop`` an app's call from the kit's and asyncio's own.
_IN_APP: contextvars.ContextVar[bool] = contextvars.ContextVar("wscheck_in_app", default=False)


def guard_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop.stop()`` called by the app raise :class:`AppInterrupted` in the app instead
    of stopping the kit's loop (asyncio's own ``run_until_complete`` calls it too, outside any
    app context, and keeps working)."""
    if getattr(loop, "_wscheck_guarded", False):
        return
    original = loop.stop

    def stop() -> None:
        if _IN_APP.get():
            raise AppInterrupted("the app called loop.stop() on the kit's event loop")
        original()

    loop.stop = stop  # type: ignore[method-assign]
    previous = loop.get_task_factory()

    def task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        # Evaluated in the creator's context: the app's own tasks only.
        if _IN_APP.get() and asyncio.iscoroutine(coro):
            coro = _AppCoroutine(coro)
        task = (previous(loop, coro, **kwargs) if previous is not None
                else asyncio.Task(coro, loop=loop, **kwargs))
        adopt(task)  # what asyncio later logs about an app's task is that app's
        return task

    loop.set_task_factory(task_factory)
    loop._wscheck_guarded = True  # type: ignore[attr-defined]


def _interrupted(exc: BaseException) -> AppInterrupted:
    return AppInterrupted(f"the app raised {type(exc).__name__}"
                          + (f": {exc}" if str(exc) else ""))


class _AppCoroutine(Coroutine[Any, Any, Any]):
    """The coroutine of a task the app started itself, with ``KeyboardInterrupt`` and
    ``SystemExit`` turned into :class:`AppInterrupted` (asyncio re-raises those two out of
    the loop, which would end the kit's run). Everything else is the app's coroutine's own:
    attributes (``cr_frame``, ``cr_running``, which anyio reads) are passed through."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro

    def send(self, value: Any) -> Any:
        try:
            return self._coro.send(value)
        except (KeyboardInterrupt, SystemExit) as exc:
            raise _interrupted(exc) from None

    def throw(self, *args: Any) -> Any:
        try:
            return self._coro.throw(*args)
        except (KeyboardInterrupt, SystemExit) as exc:
            raise _interrupted(exc) from None

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coro, name)

    def __repr__(self) -> str:
        return repr(self._coro)


async def call_app(app: ASGIApp, scope: MutableMapping[str, Any], receive: Receive,
                    send: Send) -> None:
    """Call the app in its own context, with ``KeyboardInterrupt`` and ``SystemExit`` turned
    into :class:`AppInterrupted` (they would otherwise stop the kit's loop)."""
    _IN_APP.set(True)  # a task's own context copy: the kit's code never sees it
    try:
        await app(scope, receive, send)
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _interrupted(exc) from None


