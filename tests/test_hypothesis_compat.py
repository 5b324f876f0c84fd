"""What the kit changes in Hypothesis while its checks run (wscheck.generation._compat), and
that each change draws exactly what Hypothesis would have drawn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import strategies as st
from hypothesis.internal import charmap

from wscheck.generation._compat import (
    UTF8_INTERVALS,
    known_utf8,
    steady_constants,
    unsteady_constants,
)


@pytest.fixture
def hypothesis_as_it_is() -> Iterator[None]:
    """Hypothesis's own functions for the test (other tests of the session may have run the
    kit's checks, which install the kit's), and again after it."""
    unsteady_constants()
    yield
    unsteady_constants()


def _intervals(strategy: st.SearchStrategy[str]) -> object:
    strategy.validate()
    return strategy.wrapped_strategy.intervals.intervals  # type: ignore[attr-defined]


def test_the_known_utf8_characters_are_those_hypothesis_finds(hypothesis_as_it_is: None) -> None:
    """Hypothesis's own answer (a scan of every code point, or its cache of one): the same
    intervals, and nothing that fails to round-trip."""
    encodable, non_roundtrip = charmap.intervals_from_codec("utf-8")
    assert encodable.intervals == UTF8_INTERVALS
    assert non_roundtrip.intervals == ()


def test_known_utf8_answers_utf8_alone_and_is_undone(hypothesis_as_it_is: None) -> None:
    own = charmap.intervals_from_codec
    steady_constants()  # what every property run does first
    assert charmap.intervals_from_codec is not own
    assert charmap.intervals_from_codec("utf-8")[0].intervals == UTF8_INTERVALS
    assert charmap.intervals_from_codec("ascii")[0].intervals == ((0, 127),)
    # The strategies the kit draws from: the same characters as without a codec but no
    # surrogates, and another codec still narrowed by Hypothesis's own scan.
    assert _intervals(st.characters(codec="utf-8")) == \
        _intervals(st.characters(exclude_categories=["Cs"]))
    assert _intervals(st.characters(codec="ascii")) == ((0, 127),)
    known_utf8()  # idempotent: the function it replaced is still the one restored
    unsteady_constants()
    assert charmap.intervals_from_codec is own
