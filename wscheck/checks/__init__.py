"""The conformance checks: one named check per line of the protocol brief.

Each module of this package is one area of the suite and a leaf: it imports what checks share
from below (:mod:`wscheck.run.registry`, :mod:`wscheck.checks.judging`,
:mod:`wscheck.run.conversation`,
:mod:`wscheck.generation.runner`), never another check module. Importing this package registers
every check in :data:`wscheck.run.registry.SUITE`, which orders them by area.

The names below are re-exported for code written against the package before the registry
existed; new code imports them from where they live.
"""

from __future__ import annotations

from wscheck.checks import (  # noqa: F401  (importing a module registers its checks)
    auth,
    broadcast,
    bye,
    echo,
    isolation,
    prop,
    robust,
    stateful,
)
from wscheck.checks.judging import (
    Projection,
    any_close_code,
    compare,
    format_failure,
    keep_texts,
    served,
    template_matcher,
)
from wscheck.run.registry import SUITE, Check, Context, Level, Registry, Verdict, check

__all__ = [
    "CHECKS",
    "SUITE",
    "Check",
    "Context",
    "Level",
    "Projection",
    "Registry",
    "Verdict",
    "all_checks",
    "any_close_code",
    "check",
    "compare",
    "format_failure",
    "keep_texts",
    "served",
    "template_matcher",
]

#: Checks by id, in suite order (the registry itself: a read-only mapping).
CHECKS: Registry = SUITE


def all_checks() -> list[Check]:
    """Every check, in suite order."""
    return SUITE.all()
