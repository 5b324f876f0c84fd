"""A watchdog thread for the event loop an in-process app runs on.

An app that blocks the kit's loop stops every deadline the kit has, and only another thread
can see it: this one raises :class:`AppBlockedLoop` into the blocked thread after ``stall``
seconds and, if that cannot interrupt it, ends the process once the reports are written.
The two stages and the alternatives not taken: docs/internals.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import asgi_lifespan

from wscheck.errors import TargetUnreachable, WscheckError

__all__ = ["LAST_WORDS_BOUND", "MIN_STALL", "STALL_FACTOR", "AppBlockedLoop", "LoopBlocked",
           "LoopWatchdog", "on_last_words", "watchdog_for"]

#: The loop may stay blocked this many times the driver's timeout before the watchdog acts.
STALL_FACTOR = 5.0
#: ... and never less than this many seconds: a loaded machine may delay a loop's turn by
#: a second or two, and a false alarm would raise into whatever the loop was running.
MIN_STALL = 5.0

#: What the hooks of :func:`on_last_words` get, in all, before the process ends anyway (they
#: run while the app's loop is blocked: one that waited on that loop must not hang the end).
LAST_WORDS_BOUND = 10.0

#: Called with the message before the watchdog ends the process; each returns lines to print.
_LAST_WORDS_HOOKS: list[Callable[[str], list[str]]] = []


def on_last_words(hook: Callable[[str], list[str]]) -> Callable[[], None]:
    """Have ``hook(message)`` run before the watchdog ends the process (see the module), so
    that what the run observed is written first; returns the function that removes it."""
    _LAST_WORDS_HOOKS.append(hook)

    def remove() -> None:
        with contextlib.suppress(ValueError):
            _LAST_WORDS_HOOKS.remove(hook)

    return remove


#: The process's standard error as it was when the kit was imported: pytest redirects fd 2
#: while a test runs, and the watchdog's last words must reach the user, not a capture file.
try:
    _STDERR_FD: int | None = os.dup(2)
except OSError:  # no standard error at all
    _STDERR_FD = None


class AppBlockedLoop(WscheckError):
    """Raised inside the app's code when it kept the event loop blocked (see the module)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or (_LAST_REPORT[0],)))


class LoopBlocked(TargetUnreachable):
    """The app blocked the event loop once: no later conversation could be trusted."""


#: The description of the last stall, read by :class:`AppBlockedLoop` (raised by type only).
_LAST_REPORT = ["the app blocked the event loop"]


#: Frames of these are the loop's, the kit's and their libraries', not the app's: left out.
#: (The kit's own package is the folder above this one's: importing the package from here
#: would reach up the layers.)
_PLUMBING = (*(os.path.dirname(m.__file__ or "") + os.sep for m in (asyncio, anyio, asgi_lifespan)),
             os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
             threading.__file__)


def _stack_of(thread_id: int, limit: int = 12) -> str:
    """The innermost ``limit`` frames of a thread that are the app's, as traceback text."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "  (stack not available)"
    frames = traceback.extract_stack(frame)
    own = [f for f in frames if not f.filename.startswith(_PLUMBING)]
    return "".join(traceback.format_list((own or frames)[-limit:])).rstrip()


def _describe_tasks(loop: asyncio.AbstractEventLoop, limit: int = 5) -> str:
    """The tasks of ``loop`` and the line each waits at (read from another thread: best
    effort, never raises)."""
    try:
        tasks = list(asyncio.all_tasks(loop))
    except RuntimeError:
        return "  (tasks not available)"
    lines = []
    for task in tasks[:limit]:
        # The innermost frame of the task's await chain that is the app's own.
        awaited: Any = task.get_coro()
        where, depth = "(no frame)", 0
        while awaited is not None and depth < 100:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None and (where == "(no frame)" or not
                                      frame.f_code.co_filename.startswith(_PLUMBING)):
                where = (f"{frame.f_code.co_name} at "
                         f"{frame.f_code.co_filename}:{frame.f_lineno}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
            depth += 1
        lines.append(f"  {where}")
    if len(tasks) > limit:
        lines.append(f"  ... and {len(tasks) - limit} more")
    return "\n".join(lines) or "  (none)"


def _run_hooks(message: str, lines: list[str]) -> None:
    for hook in list(_LAST_WORDS_HOOKS):
        try:
            lines.extend(hook(message))
        except Exception as exc:  # the process ends either way: say why
            lines.append(f"wscheck: could not write the reports: {type(exc).__name__}: {exc}")


def _last_words(message: str) -> None:
    """Let the hooks write what the run observed (bounded), then write the message to the
    original standard error and end the process with status 1."""
    lines: list[str] = []
    if _LAST_WORDS_HOOKS:
        writer = threading.Thread(target=_run_hooks, args=(message, lines),
                                  name="wscheck-last-words", daemon=True)
        writer.start()
        writer.join(LAST_WORDS_BOUND)
        if writer.is_alive():
            lines.append(f"wscheck: the reports were not all written within "
                         f"{LAST_WORDS_BOUND:g}s")
    data = "".join(f"\n{line}" for line in lines).encode("utf-8", "replace")
    data += f"\nwscheck: {message}\n".encode("utf-8", "replace")
    with contextlib.suppress(OSError):
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    with contextlib.suppress(OSError):
        os.write(_STDERR_FD if _STDERR_FD is not None else 2, data)
    os._exit(1)


class LoopWatchdog:
    """Watches one event loop from a daemon thread (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stall: float) -> None:
        self.stall = max(stall, MIN_STALL)
        self._loop_ref = weakref.ref(loop)
        self._thread_id = threading.get_ident()  # created from the loop's own thread
        self._loop_thread = threading.current_thread()
        self._last_beat = time.monotonic()
        self._posted = False
        #: What the first stall said; the driver refuses to go on once it is set.
        self.blocked: str | None = None
        self._injected = False
        #: What the kit is waiting to end (app tasks being cancelled, the lifespan shutdown):
        #: a key for each, with since when and what to say when it never ends.
        self._lingering: dict[str, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="wscheck-watchdog",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        self._posted = False

    def linger(self, key: str, problem: str | None) -> None:
        """Start (or, with ``None``, stop) a countdown of ``2 * stall`` for something that
        must end (the app's tasks after the driver closed, the lifespan shutdown); when it
        does not, the process ends with ``problem`` and the tasks still running."""
        if problem is None:
            self._lingering.pop(key, None)
        else:
            self._lingering[key] = (time.monotonic(), problem)

    def _watch(self) -> None:
        interval = min(max(self.stall / 5, 0.05), 0.5)
        while not self._stop.wait(interval):
            loop = self._loop_ref()
            if loop is None or loop.is_closed() or not self._loop_thread.is_alive():
                return
            if not loop.is_running():
                self._last_beat = time.monotonic()  # a loop that is not running is not blocked
                continue
            if not self._posted:
                self._posted = True
                try:
                    loop.call_soon_threadsafe(self._beat)
                except RuntimeError:  # closed meanwhile
                    return
            now = time.monotonic()
            silent = now - self._last_beat
            if silent > self.stall and not self._injected:
                self._on_stall(silent)
            elif silent > 2 * self.stall and self._injected:
                _last_words(f"{self.blocked}\nIt did not give the loop back "
                            f"({silent:.0f}s now), so the run ends here (exit status 1).")
            elif silent <= self.stall:
                self._injected = False
            for since, problem in list(self._lingering.values()):
                if now - since > 2 * self.stall:
                    _last_words(f"{problem} ({2 * self.stall:g}s after the run ended); still "
                                f"running:\n{_describe_tasks(loop)}\nThe run ends here "
                                "(exit status 1).")

    def _on_stall(self, silent: float) -> None:
        stack = _stack_of(self._thread_id)
        self.blocked = (
            f"the app blocked the event loop for more than {self.stall:g}s (a blocking call "
            f"or a busy loop in async code; everything in-process waits on that loop). "
            f"What it was doing:\n{stack}")
        _LAST_REPORT[0] = self.blocked
        self._injected = True
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id),
                                                   ctypes.py_object(AppBlockedLoop))

    def close(self) -> None:
        self._stop.set()


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatchdog] = (
    weakref.WeakKeyDictionary())


def watchdog_for(loop: asyncio.AbstractEventLoop, stall: float) -> LoopWatchdog:
    """The one watchdog of ``loop`` (started on first use, from the loop's thread)."""
    dog = _WATCHDOGS.get(loop)
    if dog is None or dog._stop.is_set():
        dog = _WATCHDOGS[loop] = LoopWatchdog(loop, stall)
    return dog
