"""The conformance checks: one named check per line of the protocol brief.

Each module of this package is one area of the suite and a leaf: it imports what checks share
from below (:mod:`wscheck.run.registry`, :mod:`wscheck.run.conversation`,
:mod:`wscheck.checks.judging`, :mod:`wscheck.generation.runner`), never another check module.
Importing this package registers every check in :data:`wscheck.run.registry.SUITE` (and the
rfc6455 suite's in :data:`~wscheck.run.registry.RFC6455`), which imports it the first time it
is read; read the suites from there.
"""

from __future__ import annotations

from wscheck.checks import (  # noqa: F401  (importing a module registers its checks)
    asyncapi,
    auth,
    broadcast,
    bye,
    echo,
    isolation,
    longrun,
    prop,
    rfc6455,
    robust,
    stateful,
)
