"""``pytest -n 2`` (pytest-xdist) gives the same run as a plain one, check for check: the same
verdicts, the same JSON report (ids, order, verdicts, problems, conversations, transcripts,
replay hints, the run's header), the same HTML page and the same "wscheck" terminal summary,
all but timings.

Each worker has its own target runtime and the checks share no state across workers; each
check's record rides on its test report to the controller, which writes the reports. The runs
are pytester subprocesses in a scratch directory, with ``CI=true`` so that the property checks
are derandomized in both (the same shrunk counterexample); verdicts are read from the JUnit
report. Property checks draw as many examples as tests/test_broken_apps.py needs to find
the broken app's listed failures: the count is not the point here, the sameness is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from tests.servers import LEAN_PYTEST, ROOT, SuiteRun, free_port, parse_suite
from tests.test_broken_apps import EXAMPLES, EXPECTED, Expect
from wscheck.core.spec import Spec
from wscheck.run.registry import SUITE

pytestmark = pytest.mark.slow  # xdist workers start slowly; CI runs these

#: The checks that do not apply to the reference protocol (the broadcast room's): skipped.
NOT_APPLICABLE = frozenset(c.id for c in SUITE.all() if c.not_applicable(Spec()))

BROKEN = "tests.broken.q_line_always:app"

#: A protocol without a bye word (the bye checks are not applicable: skipped), with one of the
#: broken app's failures listed as known (xfail).
NO_BYE_SPEC = """
expected_failures = ["auth.q"]

[echo]
bye = ""
farewells = []
"""

#: Target and extra arguments per case; what may fail, what must: nothing for the reference
#: app; for the broken app (MUST failures of fixed and property checks) what the table of
#: tests/test_broken_apps.py says. The third case is only compared, not held to a table.
CASES: dict[str, tuple[str, tuple[str, ...], Expect | None]] = {
    "reference": ("reference_app:app", (), Expect(frozenset())),
    "broken": (BROKEN, (), EXPECTED["q_line_always"]),
    "broken-no-bye-xfail": (BROKEN, ("--wscheck-spec=nobye.toml",), None),
}


@dataclass(frozen=True)
class Run:
    """One run's verdicts (JUnit), JSON and HTML reports and wscheck terminal lines."""

    suite: SuiteRun
    report: dict[str, Any]
    html: str
    summary: list[str]
    output: str


def _wscheck_lines(lines: list[str]) -> list[str]:
    """The lines the plugin prints at the end: where the reports went, then the "wscheck"
    section (up to pytest's closing line)."""
    out = [line for line in lines if line.startswith("wscheck: report written to ")]
    start = next((i for i, line in enumerate(lines) if re.fullmatch(r"=+ wscheck =+", line)),
                 None)
    assert start is not None, "\n".join(lines)
    section = [lines[start]]
    for line in lines[start + 1:]:
        if line.startswith("="):  # the next section, or pytest's closing line
            break
        section.append(line)
    return out + section


def _run(pytester: pytest.Pytester, target: str, *args: str) -> Run:
    files = {name: pytester.path / name for name in ("junit.xml", "r.json", "r.html")}
    for path in files.values():  # a stale file from the other run must not stand in
        path.unlink(missing_ok=True)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", *LEAN_PYTEST, f"--wscheck-app={target}",
        f"--wscheck-examples={EXAMPLES}",
        f"--junitxml={files['junit.xml']}", "--wscheck-report=r.json",
        "--wscheck-html=r.html", *args, timeout=240)
    output = "\n".join(result.outlines)
    assert "wscheck_record" not in files["junit.xml"].read_text(encoding="utf-8")
    return Run(parse_suite(files["junit.xml"], int(result.ret), output),
               json.loads(files["r.json"].read_text(encoding="utf-8")),
               files["r.html"].read_text(encoding="utf-8"),
               _wscheck_lines(result.outlines), output)


def _timeless_report(report: dict[str, Any]) -> dict[str, Any]:
    """The JSON report without its timings: the run's start and each check's duration."""
    out = {k: v for k, v in report.items() if k != "timestamp"}
    out["checks"] = [{k: v for k, v in c.items() if k != "duration"}
                     for c in report["checks"]]
    return out


def _timeless_page(run: Run) -> str:
    """The HTML page without the run's start and the duration cells (one per check)."""
    page, cells = re.subn(r'<td class="dur">[0-9.]+s</td>', '<td class="dur"></td>',
                          run.html)
    assert cells == len(run.report["checks"]), "the HTML page lost its duration cells"
    assert run.report["timestamp"] in page
    return page.replace(run.report["timestamp"], "")


@pytest.mark.parametrize("case", sorted(CASES))
def test_xdist_gives_the_same_run(pytester: pytest.Pytester,
                                  monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.path.joinpath("nobye.toml").write_text(NO_BYE_SPEC, encoding="utf-8")
    # Shrinking stops after a time budget (SHRINK_SECONDS): on a busy machine two runs stop
    # at different points and report different minimal examples. Lifted here, each shrink
    # runs to Hypothesis's own end, which the derandomized profile makes the same every run;
    # its replays wait the full timeout (REPLAY_FLOOR), as a bound from timing would differ.
    pytester.makeconftest("import wscheck.generation.runner as runner\n"
                          "runner.SHRINK_SECONDS.update(asgi=600.0, url=600.0)\n"
                          "runner.REPLAY_FLOOR = None\n")
    target, args, expect = CASES[case]
    plain = _run(pytester, target, *args)
    parallel = _run(pytester, target, *args, "-n", "2")
    assert "2 workers [" in parallel.output and "2 workers [" not in plain.output

    ids = [c.id for c in SUITE.all()]
    assert set(plain.suite.verdicts) == set(ids)
    assert parallel.suite.verdicts == plain.suite.verdicts
    assert parallel.suite.notes == plain.suite.notes
    assert parallel.suite.returncode == plain.suite.returncode

    # The JSON report: every check, in suite order, with everything but timings equal.
    assert [c["id"] for c in plain.report["checks"]] == ids
    assert _timeless_report(parallel.report) == _timeless_report(plain.report)
    verdicts = {c["id"]: c["verdict"] for c in plain.report["checks"]}
    assert plain.report["exit_status"] == plain.suite.returncode
    assert sum(plain.report["summary"].values()) == len(ids)
    # The HTML page: one summary row per check, and the same page.
    assert plain.html.count('<tr><td><a href="#check-') == len(ids)
    assert _timeless_page(parallel) == _timeless_page(plain)
    # The terminal summary: counts, failures, known failures, notes; and where reports went.
    assert parallel.summary == plain.summary
    assert plain.summary[:2] == ["wscheck: report written to r.json",
                                 "wscheck: report written to r.html"]

    failing = {c for c, v in verdicts.items() if v == "fail"}
    if expect is not None:
        assert expect.fails <= failing <= expect.fails | expect.may_fail
        assert plain.suite.returncode == (1 if failing else 0)
        assert {v for c, v in verdicts.items() if c not in failing | NOT_APPLICABLE} == {"pass"}
        assert {verdicts[c] for c in NOT_APPLICABLE} == {"skip"}
    else:  # the case exists for its not-applicable and known-failure records
        assert verdicts["auth.q"] == "xfail"
        assert {verdicts[c] for c in ids if c.startswith("bye.")} == {"skip"}
        assert any(f"FAIL  {c} [" in line for c in failing for line in plain.summary)
        assert any(line.startswith("XFAIL auth.q [MUST]") for line in plain.summary)


def test_a_target_that_does_not_answer_stops_the_run_alike(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens: without xdist the first check errors and the run stops with 1; with
    ``-n 2`` each worker's first check errors (they start together) and the run stops with 1
    too, not with xdist's "interrupted" 2; the report says the same, without worker lines."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    url = f"ws://127.0.0.1:{free_port()}"
    # The two runs are independent (their own report, their own basetemp): side by side.
    procs = {}
    for name, extra in (("plain", ()), ("xdist", ("-n", "2"))):
        procs[name] = pytester.popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
             f"--basetemp={pytester.path / ('tmp-' + name)}", f"--wscheck-url={url}",
             f"--wscheck-report={pytester.path / (name + '.json')}", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    runs = {}
    try:
        for name, proc in procs.items():
            output, _ = proc.communicate(timeout=120)
            assert proc.returncode == pytest.ExitCode.TESTS_FAILED, output.decode()
            runs[name] = json.loads((pytester.path / f"{name}.json").read_text(
                encoding="utf-8"))
            assert runs[name]["exit_status"] == 1
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(timeout=30)
    errors = {name: [c for c in run["checks"] if c["verdict"] == "error"]
              for name, run in runs.items()}
    assert len(errors["plain"]) == len(runs["plain"]["checks"]) == 1
    assert 1 <= len(errors["xdist"]) == len(runs["xdist"]["checks"]) <= 2
    for check in errors["plain"] + errors["xdist"]:
        assert check["message"].startswith(f"wscheck: the target does not answer: "
                                           f"nothing is listening at {url}")


#: The reference app, except that the first connection to /item/ws kills the process serving
#: it (once: a file marks that it happened). It dies a second after that connection: xdist's
#: controller answers the previous test's end by sending the worker more tests, and a worker
#: already gone then breaks xdist itself (INTERNALERROR, "cannot send (already closed?)").
#: The sleep blocks the loop, so no deadline of the kit's ends the check first.
CRASHING_APP = """
import os
import time
from pathlib import Path

from reference_app import app as reference

CRASHED = Path(__file__).with_name("crashed")


async def app(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"] == "/item/ws" and not CRASHED.exists():
        CRASHED.write_text("once", encoding="utf-8")
        time.sleep(1.0)
        os._exit(3)
    await reference(scope, receive, send)
"""


def test_a_check_whose_worker_dies_is_an_error_in_the_report(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """xdist replaces the worker and reports the check it was running as failed, with no
    record: the report keeps that check, as an error that says so, and every other one. Few
    examples: the crash happens on the first connection to /item/ws, whatever the count."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{pytester.path}")
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    pytester.makepyfile(crashing=CRASHING_APP)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--wscheck-app=crashing:app", "--wscheck-examples=5",
        "--wscheck-report=r.json", "-n", "2", timeout=240)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "\n".join(result.outlines)
    assert (pytester.path / "crashed").exists()
    report = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in report["checks"]] == [c.id for c in SUITE.all()]
    errors = [c for c in report["checks"]
              if c["verdict"] != "pass" and c["id"] not in NOT_APPLICABLE]
    assert len(errors) == 1 and errors[0]["verdict"] == "error", errors
    assert re.fullmatch(rf"worker 'gw[01]' crashed while running 'wscheck::{errors[0]['id']}'",
                        errors[0]["message"])
    assert report["exit_status"] == 1
    assert report["summary"]["pass"] == len(report["checks"]) - 1 - len(NOT_APPLICABLE)


def test_a_room_over_the_network_is_held_across_workers(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``-n 2`` over a network each worker runs its share of the room's checks in the
    server's one room: they take turns (a lock per target, wscheck.run.room), and a correct
    room passes every room check. Before, the two workers' scenarios met in the room and
    failed it on texts the other's clients caused (three runs of three)."""
    from reference_app import create_app
    from tests.servers import serve_uvicorn
    from wscheck.core.spec import load_spec

    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    spec = ROOT / "examples" / "fastapi_docs_chat.toml"
    with serve_uvicorn(create_app(load_spec(spec))) as address:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", *LEAN_PYTEST, f"--wscheck-url=ws://{address}",
            f"--wscheck-spec={spec}", "--wscheck-examples=10", "-n", "2", "-rA",
            timeout=240)
    output = "\n".join(result.outlines)
    assert "2 workers [" in output
    room = [line for line in result.outlines
            if line.startswith("PASSED wscheck::") and ("broadcast." in line or
                                                        "prop.broadcast" in line)]
    assert len(room) == 7, output
    assert result.ret == 0, output
