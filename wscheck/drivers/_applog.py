"""What an in-process app logs at ERROR or above, told apart by the connection it served.

Protocol ``/ws`` 7 says a client going away is not an error logged, and frameworks log the
exceptions they catch. A log record factory sees every record whatever its logger's
handlers, and each app task's :class:`contextvars.Context` names the connection a record
belongs to. What counts and what does not: docs/internals.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["KIT_LOGGERS", "adopt", "app_context", "describe_record", "watch_loop"]

#: Loggers of the kit and the libraries it drives a target with: never the app's.
KIT_LOGGERS = ("wscheck", "httpx", "httpcore", "hypothesis")

Sink = Callable[[logging.LogRecord], None]

_sink: contextvars.ContextVar[Sink | None] = contextvars.ContextVar(
    "wscheck_app_log_sink", default=None)
_installed = False
_lock = threading.Lock()


def _kit_logger(name: str) -> bool:
    return any(name == kit or name.startswith(kit + ".") for kit in KIT_LOGGERS)


def _install() -> None:
    """Chain the kit's record factory before whatever factory is in place, once a process:
    outside an app's context it costs one context-variable lookup per record."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.levelno >= logging.ERROR:
                sink = _sink.get()
                if sink is not None and not _kit_logger(record.name):
                    sink(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


#: The sink of each task an app started, both weakly: a sink is a connection's method, and
#: a connection holds its app's task, so a strong sink here kept every task and connection
#: of the process alive (a key a weak dictionary's own value refers to never goes). Once the
#: connection is gone nobody can read what its sink would record.
_task_sinks: weakref.WeakKeyDictionary[asyncio.Future[Any], Callable[[], Sink | None]] = (
    weakref.WeakKeyDictionary())


def _weakly(sink: Sink) -> Callable[[], Sink | None]:
    if inspect.ismethod(sink):
        return weakref.WeakMethod(sink)
    try:
        return weakref.ref(sink)
    except TypeError:  # a callable that takes no weak reference: held, as before
        return lambda: sink


def adopt(task: asyncio.Future[Any]) -> None:
    """Called in the creator's context for every new task: a task an app started keeps its
    connection's sink, for the records asyncio makes about it later (see the module)."""
    sink = _sink.get()
    if sink is not None:
        _task_sinks[task] = _weakly(sink)


def watch_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop``'s exception handler (whichever it was) report an app task's problem in
    that task's connection context, once a loop."""
    if getattr(loop, "_wscheck_app_log", False):
        return
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        about = context.get("task") or context.get("future")
        ref = _task_sinks.get(about) if isinstance(about, asyncio.Future) else None
        sink = ref() if ref is not None else None
        token = _sink.set(sink) if sink is not None else None
        try:
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
        finally:
            if token is not None:
                _sink.reset(token)

    loop.set_exception_handler(handler)
    loop._wscheck_app_log = True  # type: ignore[attr-defined]


def app_context(sink: Sink) -> contextvars.Context:
    """A context for an app task: ERROR records made in it (and in the tasks it starts) go
    to ``sink``."""
    _install()
    context = contextvars.copy_context()
    context.run(_sink.set, sink)
    return context


def describe_record(record: logging.LogRecord) -> str:
    """The record's message, with the type and text of the exception it carries."""
    try:
        message = record.getMessage()
    except Exception as exc:  # the app's format string and arguments disagree
        message = f"{record.msg!r} (unformattable: {type(exc).__name__})"
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        message += f" ({type(error).__name__}: {error})"
    return message
