"""Failure texts that say what was observed and why, not only that something differs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.verdicts import run_checks
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import ASGIApp, AsgiDriver
from wscheck.run.registry import Verdict

ROOT = Path(__file__).resolve().parent.parent


def _verdicts(app: ASGIApp, *only: str) -> dict[str, Verdict]:
    async def run() -> dict[str, Verdict]:
        driver = AsgiDriver(app, timeout=2.0)
        try:
            results = await run_checks(driver, Spec(), 5, only=only)
        finally:
            await driver.aclose()
        return {k: v for k, (_, v) in results.items() if v is not None}

    return asyncio.run(run())


def test_a_refusal_before_the_handshake_is_worded_as_observed() -> None:
    """The observed column says "refused: HTTP 401": the problem must not say "was not
    refused", but what happened: refused before the handshake completed, no close code."""
    from tests.broken.denies_with_401 import app

    got = _verdicts(app, "auth.missing", "auth.missing-observable")
    for check_id, verdict in got.items():
        assert verdict.problem is not None, check_id
        assert "refused before the handshake completed (HTTP 401), so no close code reached " \
               "the client" in verdict.problem, verdict.problem
        assert "was not refused (" not in verdict.problem
    assert got["auth.missing-observable"].problem is not None
    assert got["auth.missing-observable"].problem.startswith("no accept-then-close 1008")


def test_a_client_let_in_without_credentials_is_worded_as_observed() -> None:
    from tests.broken.accepts_missing_credentials import app

    problem = _verdicts(app, "auth.missing")["auth.missing"].problem
    assert problem is not None, problem
    assert problem.endswith(": it was let in: accepted, and no close came"), problem


def test_a_dead_echo_endpoint_is_diagnosed_by_echo_accept_alone() -> None:
    from tests.broken.refuses_echo import app

    got = _verdicts(app, "echo.accept", "echo.exact", "bye.sequence")
    accept = got["echo.accept"]
    assert accept.problem == "the handshake was not accepted"
    assert any("likely causes: no route of the app matches the path '/ws'" in n
               for n in accept.notes), accept.notes
    for check_id in ("echo.exact", "bye.sequence"):
        assert got[check_id].is_inconclusive, check_id
        assert "(see echo.accept)" in (got[check_id].inconclusive or "")


def test_a_broadcast_is_a_leak_by_provenance() -> None:
    """FastAPI's tutorial003 shape: the broadcast is no client's expected reply, but it
    carries the sender's tag, so isolation.concurrent names the leak."""
    from tests.broken.broadcasts import app

    verdict = _verdicts(app, "isolation.concurrent")["isolation.concurrent"]
    assert verdict.problem is not None
    assert re.match(r"client \d+ got a message carrying client \d+'s tag «c\d+»: "
                    r"'Client #\d+ says: «c\d+» round \d'", verdict.problem), verdict.problem
    assert any(n.startswith("the client whose tag leaked") for n in verdict.notes)


def test_a_prop_concurrent_failure_shows_every_client() -> None:
    from tests.broken.suffixes_other_client import app

    verdict = _verdicts(app, "prop.concurrent")["prop.concurrent"]
    assert verdict.problem is not None and "got a message carrying" in verdict.problem
    shown = next(n for n in verdict.notes if n.startswith("every client of this example:"))
    assert verdict.observation is not None
    clients = re.findall(r"^client (\d+):$", shown, re.MULTILINE)
    assert len(clients) >= 2 and clients == [str(i) for i in range(len(clients))], shown
    assert shown.count("conversation:") == len(clients)


ONE_LATE = """
from tests.broken.answers_one_late import app
"""


def test_an_app_answering_one_late_is_judged_not_stopped(pytester: pytest.Pytester) -> None:
    """The handshake is accepted and a second message gets the first one's reply: the target
    answers, so the run goes on and the echo checks name the broken line."""
    pytester.syspathinsert(ROOT)
    pytester.makepyfile(onelate=ONE_LATE)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio",
                                "--wscheck-app", "onelate:app", "--wscheck-examples", "5",
                                "-k", "echo or bye")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "does not answer" not in out
    assert "FAIL  echo.exact [MUST]: the reply is not exactly the prefix" in out
    assert "FAIL  echo.accept" not in out
    summary = out.splitlines()[-1]
    assert re.search(r"\d+ failed", summary) and "passed" in summary, summary
