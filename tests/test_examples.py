"""The examples in ``examples/`` do what ``examples/README.md`` says: each app, checked
against its own spec file, passes every MUST check and warns on the SHOULD checks its
docstring names; the README's command line works end to end."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.verdicts import Outcome, asgi_verdicts
from wscheck.core.spec import load_spec
from wscheck.run.registry import SUITE

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

#: The SHOULD checks each example fails by design (see its docstring).
SHOULD_WARNINGS = {
    "fastapi_docs_echo": {"robust.binary", "robust.disconnect"},
    "fastapi_docs_items": {"robust.binary", "robust.disconnect", "auth.missing-observable"},
}


def _expected(name: str) -> dict[str, Outcome]:
    spec = load_spec(EXAMPLES / f"{name}.toml")
    expected: dict[str, Outcome] = {}
    for chk in SUITE.all():
        if chk.not_applicable(spec):
            expected[chk.id] = "n/a"
        else:
            expected[chk.id] = "fail" if chk.id in SHOULD_WARNINGS[name] else "pass"
    return expected


@pytest.mark.parametrize("name", sorted(SHOULD_WARNINGS))
def test_example_verdicts(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.toml")
    app = importlib.import_module(f"examples.{name}").app
    assert asgi_verdicts(app, spec) == _expected(name)


def test_the_expected_warnings_are_should_level() -> None:
    levels = {c.id: c.level for c in SUITE.all()}
    for warned in SHOULD_WARNINGS.values():
        assert {levels[i] for i in warned} == {"SHOULD"}


def test_the_examples_apply_where_they_should() -> None:
    """Each spec keeps its own checks applicable: the echo example is judged on the echo
    checks, the items example on every credentials check."""
    echo, items = _expected("fastapi_docs_echo"), _expected("fastapi_docs_items")
    assert echo["echo.exact"] == "pass" and echo["bye.sequence"] == "n/a"
    assert echo["auth.token"] == "n/a"
    assert all(v != "n/a" for k, v in items.items() if k.startswith("auth."))
    assert items["echo.exact"] == "n/a"


def test_pytest_command_line_end_to_end(tmp_path: Path) -> None:
    """``pytest --wscheck-app ... --wscheck-spec ...`` as the README shows it, in a fresh
    process, from an empty directory so that nothing else is collected."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--wscheck-app", "examples.fastapi_docs_items:app",
         "--wscheck-spec", str(EXAMPLES / "fastapi_docs_items.toml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "WARN  auth.missing-observable [SHOULD]" in out
    assert "NOTE  auth.missing:" in out
    assert " failed" not in out
