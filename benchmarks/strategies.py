"""What generating a property's examples costs, with the strategy builders reused or rebuilt.

The conversation strategies of :mod:`wscheck.generation.strategies` are composites: every example
draws from ``messages()``, ``tokens()``, ``cookie_values()``, ``q_values()`` and the like. Those
builders hand out one strategy object per distinct arguments (``_reused``); built afresh on
every draw instead, Hypothesis validates each new object at its first draw (emptiness,
recursion, the character tables of its alphabets), which cost more than the example itself.

This times ``--examples`` examples of each conversation strategy under the derandomized CI
profile, ``--rounds`` times, alternating: once as shipped, once with every builder's cache
bypassed (the baseline: a builder called through its ``__wrapped__``), and reports the median
seconds and the ratio shipped / rebuilt, measured in the same run.

Usage: ``python benchmarks/strategies.py [--examples 100] [--rounds 5] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import given, settings

import wscheck.generation.strategies as strategies
from wscheck.core.spec import Spec

#: The builders that hand out reused strategy objects (each has a ``__wrapped__``).
BUILDERS = [name for name in dir(strategies)
            if callable(getattr(strategies, name)) and hasattr(getattr(strategies, name),
                                                               "cache_clear")]

STRATEGIES: dict[str, Callable[[Spec], Any]] = {
    "echo_conversations": strategies.echo_conversations,
    "auth_conversations": strategies.auth_conversations,
    "conversations": strategies.conversations,
}


@contextlib.contextmanager
def rebuilt() -> Iterator[None]:
    """Every builder builds a new strategy on every call, as before ``_reused``."""
    saved = {name: getattr(strategies, name) for name in BUILDERS}
    try:
        for name, cached in saved.items():
            setattr(strategies, name, cached.__wrapped__)
        yield
    finally:
        for name, cached in saved.items():
            setattr(strategies, name, cached)


def draw(name: str, examples: int) -> float:
    """Seconds to generate ``examples`` examples of strategy ``name`` (nothing else runs)."""
    from wscheck.checks.prop import profile

    os.environ["CI"] = "true"  # the derandomized profile: the same examples every round
    strategy = STRATEGIES[name](Spec())

    def body(example: object) -> None:
        pass

    test = settings(profile(), max_examples=examples)(given(strategy)(body))
    started = time.perf_counter()
    test()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    times: dict[str, dict[str, list[float]]] = {
        name: {"reused": [], "rebuilt": []} for name in STRATEGIES}
    for _ in range(args.rounds):
        for name in STRATEGIES:
            times[name]["reused"].append(draw(name, args.examples))
            with rebuilt():
                times[name]["rebuilt"].append(draw(name, args.examples))
    result = {}
    print(f"{args.examples} examples per strategy, median of {args.rounds} rounds")
    print(f"{'strategy':<20} {'reused s':>9} {'rebuilt s':>10} {'ratio':>6}")
    for name, pair in times.items():
        reused, again = statistics.median(pair["reused"]), statistics.median(pair["rebuilt"])
        result[name] = {"reused": round(reused, 3), "rebuilt": round(again, 3),
                        "ratio": round(reused / again, 2)}
        print(f"{name:<20} {reused:>9.3f} {again:>10.3f} {reused / again:>6.2f}")
    if args.json:
        print(json.dumps({"examples": args.examples, "rounds": args.rounds,
                          "strategies": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
