"""The README's "write your own checks" example, run verbatim: it passes against the reference
app with nothing but what ``pip install wscheck`` installs (pytest-asyncio is turned off), and
against a broken app its failure prints the side-by-side table, not a clipped repr.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"### Write your own checks.*?```python\n(.*?)```", readme, re.S)
    assert match, "the README lost its custom-test example"
    return match.group(1)


def _run(pytester: pytest.Pytester, app: str) -> pytest.RunResult:
    pytester.makepyfile(test_mine=readme_example())
    return pytester.runpytest_subprocess(
        f"--wscheck-app={app}", "--wscheck-no-suite", "-p", "no:cacheprovider",
        "-p", "no:asyncio", timeout=120)


def test_the_example_needs_only_the_declared_dependencies() -> None:
    """The async test runs on anyio's pytest plugin; anyio must be a declared dependency of
    the kit, not something another package happens to bring."""
    assert "@pytest.mark.anyio" in readme_example()
    assert "pytest.mark.asyncio" not in readme_example()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=!~; \[]", d, maxsplit=1)[0].lower()
             for d in project["dependencies"]}
    assert {"pytest", "anyio"} <= names


def test_the_example_passes_against_the_reference_app(pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = _run(pytester, "reference_app:app")
    result.assert_outcomes(passed=2)


def test_a_failure_of_the_example_prints_the_table(pytester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An app with a space after the echo prefix fails the first test; the assertion message
    is the whole conversation and both transcripts, the difference marked."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = _run(pytester, "tests.broken.wrong_prefix:app")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "test_two_byes_in_one_message_is_not_bye" in out
    assert "AssertionError: conversation:" in out
    assert "  send text 'bye bye'" in out
    assert re.search(r"^E\s+expected\s+observed$", out, re.M), out
    assert re.search(r"^E\s+>> 1 text '接收到的消息是:bye bye'\s+\| "
                     r"text '接收到的消息是: bye bye'$", out, re.M), out
