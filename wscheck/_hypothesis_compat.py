"""The few places where the kit leans on Hypothesis beyond its documented API.

Kept in one module so that a Hypothesis upgrade that changes them touches this file alone:

* ``_hypothesis_internal_add_digest`` is the private hook Hypothesis's own stateful runner uses
  to give a generated test its key in the example database (and, under ``derandomize``, its
  seed). The property checks are closures that look alike to Hypothesis, so each gets the key
  of its check and protocol: a replay from the database stays relevant.
* ``hypothesis.reporting.with_reporter`` silences what Hypothesis would print from the worker
  thread the properties run in (the verdict says everything, and prints from a thread would
  land in the middle of pytest's output).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter

__all__ = ["Flaky", "set_database_key", "silenced"]


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
