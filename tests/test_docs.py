"""Documentation generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from wscheck.checks import all_checks
from wscheck.cli import catalogue

ROOT = Path(__file__).resolve().parent.parent


def test_check_catalogue_is_current() -> None:
    on_disk = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    assert on_disk == catalogue(), (
        "docs/checks.md is stale: run `wscheck checks --markdown > docs/checks.md`")


def test_catalogue_lists_every_check_once() -> None:
    text = catalogue()
    for check in all_checks():
        assert text.count(f"| `{check.id}` |") == 1, check.id


def test_check_ids_are_stable_and_well_formed() -> None:
    ids = [c.id for c in all_checks()]
    assert len(ids) == len(set(ids))
    for check_id in ids:
        area, _, name = check_id.partition(".")
        assert area in {"echo", "bye", "isolation", "auth", "robust", "prop"}, check_id
        assert name and name == name.lower() and " " not in name, check_id


def test_readme_fixture_example_runs(pytester) -> None:  # type: ignore[no-untyped-def]
    """The README's "write your own checks" example works as printed."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"### Write your own checks.*?```python\n(.*?)```", readme, re.S)
    assert match, "the README lost its fixture example"
    pytester.makepyfile(test_mine=match.group(1))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess(
        "--wscheck-app", "reference_app:app", "--wscheck-no-suite", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
