"""Examples run on the check's event loop from Hypothesis's worker thread, each bounded:
one at a time (:class:`LoopBridge`) or several overlapping (:class:`Pipeline`)."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from wscheck.errors import CheckFailure
from wscheck.run.conversation import Observation

__all__ = ["CANCEL_GRACE_SECONDS", "ExampleTimedOut", "LoopBridge", "Pipeline",
           "PropertyFailed"]

T = TypeVar("T")

#: How long a cancelled example may take to unwind (close its connections) before the
#: worker thread stops waiting for it.
CANCEL_GRACE_SECONDS = 10.0


class PropertyFailed(CheckFailure):
    """One generated example failed; carries its observation (None when the example never
    finished), for the state machine the steps that led there, and ``notes`` for the report
    (every client of a multi-client example)."""

    def __init__(self, problem: str, observation: Observation | None,
                 steps: tuple[str, ...] = (), notes: tuple[str, ...] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.observation = observation
        self.steps = steps
        self.notes = notes


class ExampleTimedOut(PropertyFailed):
    """An example outlived :func:`example_bound` and was cancelled."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"a generated example did not finish within {seconds:g}s "
                         "(it was cancelled): the app answers too slowly", None)


class LoopBridge:
    """Runs coroutines on the check's event loop from Hypothesis's worker thread, each
    bounded: one that outlives the bound is cancelled and :class:`ExampleTimedOut` raised."""

    def __init__(self, loop: asyncio.AbstractEventLoop, bound: float) -> None:
        self.loop = loop
        self.bound = bound

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        # The bound is kept here, in the worker thread, not with a timer on the loop: a timer
        # there would keep the in-process driver from ever knowing the app idle.
        started = _Started(coro, self.loop)
        return cast(T, started.result(self.bound, self.bound))


class _Started:
    """A coroutine started on the loop from a worker thread, and told when it has unwound."""

    def __init__(self, coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> None:
        self.unwound = threading.Event()

        async def guarded() -> T:
            try:
                return await coro
            finally:
                self.unwound.set()

        self.at = time.monotonic()
        self.future: concurrent.futures.Future[Any] = \
            asyncio.run_coroutine_threadsafe(guarded(), loop)

    def result(self, wait: float, bound: float) -> Any:
        """Its result within ``wait`` seconds; else it is cancelled and, once it has unwound
        (bounded) and let its connections go, so that nothing of it runs on into the next
        example, :class:`ExampleTimedOut` for ``bound`` is raised."""
        try:
            return self.future.result(wait)
        except (TimeoutError, concurrent.futures.TimeoutError):
            self.future.cancel()
            self.unwound.wait(CANCEL_GRACE_SECONDS)
            raise ExampleTimedOut(bound) from None


class Pipeline:
    """Runs examples on the check's loop without waiting for each before the next is drawn:
    up to ``width`` at once, each bounded like one run by :class:`LoopBridge`.

    Used from Hypothesis's worker thread by :func:`run_property`'s first run. Hypothesis draws
    its examples from its seed and from which examples failed; while none fails, the examples
    it draws do not depend on when their verdicts arrive, so the same examples are run as one
    after another, only overlapping. The first example that fails, outlives its bound or
    raises makes the pipeline *stray*: nothing more is started (Hypothesis draws on, cheaply,
    to its end), and the examples still running finish as they would have (each within its
    bound), so that none of their connections is still open when the run alone starts.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, bound: float, width: int) -> None:
        self.loop = loop
        self.bound = bound
        self.width = max(1, width)
        self.strayed = False
        self._running: collections.deque[_Started] = collections.deque()

    def run(self, coro: Coroutine[Any, Any, PropertyFailed | None]) -> None:
        """Start ``coro`` once fewer than ``width`` examples run (or drop it: strayed); its
        verdict comes later, so for now the example passes."""
        while not self.strayed and len(self._running) >= self.width:
            self._settle_oldest()
        if self.strayed:
            coro.close()
            return
        self._running.append(_Started(coro, self.loop))

    def drain(self) -> bool:
        """Wait for every example still running; True when every one agreed."""
        while self._running:
            self._settle_oldest()
        return not self.strayed

    def _settle_oldest(self) -> None:
        started = self._running.popleft()
        try:
            failure = started.result(max(0.0, self.bound - (time.monotonic() - started.at)),
                                     self.bound)
        except ExampleTimedOut as exc:
            failure = exc
        except Exception:  # the run one example after another raises it again, and says it
            failure = PropertyFailed("raised", None)
        if failure is not None:
            self.strayed = True
