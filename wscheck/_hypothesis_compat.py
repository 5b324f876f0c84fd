"""The few places where the kit leans on Hypothesis beyond its documented API.

Kept in one module so that a Hypothesis upgrade that changes them touches this file alone:

* ``_hypothesis_internal_add_digest`` is the private hook Hypothesis's own stateful runner uses
  to give a generated test its key in the example database (and, under ``derandomize``, its
  seed). The property checks are closures that look alike to Hypothesis, so each gets the key
  of its check and protocol: a replay from the database stays relevant.
* ``hypothesis.reporting.with_reporter`` silences what Hypothesis would print from the worker
  thread the properties run in (the verdict says everything, and prints from a thread would
  land in the middle of pytest's output).
* :data:`LAZY_MODULES` are modules Hypothesis imports only when a run first needs them. They
  are imported here, with the plugin, in the main thread: imported first from the worker
  threads of properties running side by side, under pytest's assertion rewriting (which
  covers Hypothesis, a pytest plugin), CPython 3.11 failed one with ``SystemError: AST
  constructor recursion depth mismatch`` and another thread then met it half imported
  (seen in CI, as checks "run again alone").
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter

__all__ = ["LAZY_MODULES", "Flaky", "set_database_key", "silenced"]

#: Imported by Hypothesis on first need: its optimiser halfway through a property's examples,
#: ``flatmap``'s strategy at its first draw. A name a Hypothesis upgrade drops is skipped.
LAZY_MODULES = ("hypothesis.internal.conjecture.optimiser",
                "hypothesis.strategies._internal.flatmapped")

for _name in LAZY_MODULES:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)


def set_database_key(test: Callable[..., Any], key: bytes) -> None:
    """Give a ``@given`` test its own key in the example database (and derandomized seed)."""
    test._hypothesis_internal_add_digest = key  # type: ignore[attr-defined]


def _silent(value: object) -> None:
    """A reporter that drops what it is given."""


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Run Hypothesis with its reporter silenced."""
    with with_reporter(_silent):
        yield
