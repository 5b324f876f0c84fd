"""``pytest -n 2`` (pytest-xdist) gives the same verdicts as a plain run: each worker has its
own target runtime, and the checks share no state across workers.

The runs are pytester subprocesses in a scratch directory, with ``CI=true`` so that the
property checks are derandomized in both; verdicts are read from the JUnit report.
"""

from __future__ import annotations

import pytest

from tests.servers import ROOT, SuiteRun, parse_suite
from tests.test_broken_apps import EXPECTED, Expect
from wscheck.checks import all_checks

pytestmark = pytest.mark.slow  # xdist workers start slowly; CI runs these

#: What may fail, what must: nothing for the reference app; for the broken app (MUST failures
#: of fixed and property checks) what the table of tests/test_broken_apps.py says.
TARGETS = {
    "reference_app:app": Expect(frozenset()),
    "tests.broken.q_line_always:app": EXPECTED["q_line_always"],
}


def _run(pytester: pytest.Pytester, target: str, *args: str) -> SuiteRun:
    report = pytester.path / f"report{len(args)}.xml"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--wscheck-app={target}", "--wscheck-examples=25",
        f"--junitxml={report}", *args, timeout=180)
    return parse_suite(report, int(result.ret), "\n".join(result.outlines))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_xdist_gives_the_same_verdicts(pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    plain = _run(pytester, target)
    parallel = _run(pytester, target, "-n", "2")
    assert set(plain.verdicts) == {c.id for c in all_checks()}
    assert parallel.verdicts == plain.verdicts
    assert parallel.notes == plain.notes
    failing = {c for c, v in plain.verdicts.items() if v == "fail"}
    e = TARGETS[target]
    assert e.fails <= failing <= e.fails | e.may_fail
    assert parallel.returncode == plain.returncode == (1 if failing else 0)
