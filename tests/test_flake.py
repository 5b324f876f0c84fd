"""The suite's verdicts do not depend on the Hypothesis seed: a light version, for CI, of
``benchmarks/flake.py`` (which runs 20 seeds per target and over uvicorn too)."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.flake import in_process
from reference_app import create_app
from tests.test_broken_apps import EXAMPLES, EXPECTED

SEEDS = [1, 2, 3]


@pytest.mark.slow  # the whole suite once per seed
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_app_verdicts_do_not_depend_on_the_seed(seed: int) -> None:
    """No failure under any seed; one test per seed, as each stands alone."""
    assert in_process(create_app(), seed, examples=25) == frozenset()


@pytest.mark.slow  # the whole suite once per seed
@pytest.mark.parametrize("name", ["wrong_prefix", "replies_to_latest_client"])
def test_broken_app_verdicts_do_not_depend_on_the_seed(name: str) -> None:
    """A defect every echo property meets, and one only interleaved clients show.

    Every check the table says must fail (fixed cases and properties alike) fails under
    every seed, and nothing outside the table does; a check listed as one that *may* fail
    (a property whose draws, or the scheduling of interleaved clients, decide whether it
    meets the defect) may differ between seeds: that is what "may" says.
    """
    app = importlib.import_module(f"tests.broken.{name}").app
    e = EXPECTED[name]  # a check that could not conclude counts as not passed here
    runs = {seed: in_process(app, seed, EXAMPLES) for seed in SEEDS}
    sets = set(runs.values())
    differ = frozenset().union(*sets) - frozenset.intersection(*sets) - e.may_fail
    assert not differ, {seed: sorted(failed & differ) for seed, failed in runs.items()}
    for failed in sets:
        assert e.fails <= failed <= e.fails | e.may_fail | e.inconclusive, failed
