"""The inconclusive verdict: a check that could not observe its line is never a pass.

A precondition that failed (every client of an endpoint refused) leaves the checks that
needed it inconclusive: skipped in JUnit with the reason, ``inconclusive`` in the JSON report,
and a MUST one keeps the run from exit status 0 even when nothing failed. A line that cannot
be observed through the target kind (a server's log, over the network) is shown and counted
without changing the exit status.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.servers import serve_uvicorn
from tests.verdicts import asgi_verdicts, url_verdicts
from wscheck.pytest.collector import blocks_exit_0
from wscheck.reporting.record import CheckRecord
from wscheck.run.registry import Level, Outcome, Unconcluded

#: The reference app with no route at /item/ws: Starlette's way of refusing an unmatched
#: WebSocket path (a close with 1000 before accept; uvicorn turns it into HTTP 403).
NO_ITEM_ROUTE = """
from reference_app import app as reference


async def app(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"] == "/item/ws":
        await receive()
        await send({"type": "websocket.close", "code": 1000})
        return
    await reference(scope, receive, send)
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


def test_an_inconclusive_must_check_alone_does_not_exit_0(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(noroute=NO_ITEM_ROUTE)
    result = _run(pytester, "--wscheck-app", "noroute:app", "-k", "auth.missing or auth.q",
                  "--junitxml=report.xml", "--wscheck-report=report.json",
                  "--wscheck-html=report.html")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "failed" not in out.splitlines()[-1], out  # nothing failed: only inconclusive
    # Said once for both checks, with the reason they share.
    assert re.search(r"^INCONCLUSIVE auth\.missing \[MUST\], .*auth\.q-invalid \[MUST\] "
                     r"\(precondition failed\): a plain client of /item/ws was refused", out,
                     re.MULTILINE), out
    assert out.count("INCONCLUSIVE") == 1
    assert "'/item/ws'" in out and "no route" in out  # the likely cause, with the path
    assert "not observed conforming, so the exit status is not 0" in out

    cases = {c.get("name"): c for c in ET.parse(pytester.path / "report.xml").iter("testcase")}
    skipped = cases["auth.missing"].find("skipped")
    assert skipped is not None
    assert "inconclusive: precondition failed" in (skipped.get("message") or "")

    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    records = {c["id"]: c for c in report["checks"]}
    assert records["auth.missing"]["verdict"] == "inconclusive"
    assert records["auth.missing"]["unconcluded"] == "precondition"
    assert "(see auth.token)" in records["auth.missing"]["inconclusive"]
    assert records["auth.q-invalid"]["verdict"] == "inconclusive"
    assert report["summary"]["inconclusive"] >= 3
    assert report["summary"]["pass"] == 0
    assert report["exit_status"] == 1

    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert ">inconclusive</span> <code>auth.missing</code>" in page
    assert "inconclusive (precondition): precondition failed: a plain client of /item/ws" in page


def test_the_no_route_app_is_diagnosed_once(pytester: pytest.Pytester) -> None:
    """auth.token fails, naming the path tried and the likely causes; the others that need a
    client let in are inconclusive, pointing at it."""
    pytester.makepyfile(noroute=NO_ITEM_ROUTE)
    result = _run(pytester, "--wscheck-app", "noroute:app", "-k", "auth or isolation")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "FAIL  auth.token [MUST]" in out
    assert "      diagnosis: a plain client of /item/ws was refused (refused: close 1000 before " \
           "accept); likely causes: no route of the app matches the path '/item/ws'" in out
    assert "Starlette's router closes with 1000" in out
    unseen = [line for line in result.outlines if line.startswith("INCONCLUSIVE")]
    assert len(unseen) == 1, unseen  # one reason, said once for every check that shares it
    for check_id in ("auth.cookie", "auth.q", "auth.missing", "isolation.concurrent"):
        assert f"{check_id} [MUST]" in unseen[0], check_id
    assert "(see auth.token)" in unseen[0]
    assert "passed" not in out.splitlines()[-1]


def test_over_the_network_no_route_passes_nothing_and_accuses_nothing() -> None:
    """uvicorn answers 403 to every client of a path with no route: auth.missing and
    auth.q-invalid do not pass it, and robust.disconnect does not say the server stopped
    serving."""
    from tests.broken.no_item_route import app

    only = ("auth.missing", "auth.q-invalid", "robust.disconnect", "auth.token")
    got = url_verdicts(app, only=only)
    assert got == {"auth.missing": "inconclusive", "auth.q-invalid": "inconclusive",
                   "robust.disconnect": "inconclusive", "auth.token": "fail"}


def test_disconnect_is_unobservable_over_the_network_and_exit_stays_0(
        pytester: pytest.Pytester) -> None:
    from reference_app import app

    with serve_uvicorn(app) as address:
        result = _run(pytester, f"--wscheck-url=ws://{address}", "-k",
                      "robust.disconnect or echo.exact", "--wscheck-report=report.json")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert "INCONCLUSIVE robust.disconnect [SHOULD] (cannot be observed)" in out
    assert "not observable over the network" in out
    assert "1 SHOULD inconclusive" in out
    record = {c["id"]: c for c in json.loads(
        (pytester.path / "report.json").read_text(encoding="utf-8"))["checks"]}
    assert record["robust.disconnect"]["unconcluded"] == "unobservable"
    assert record["echo.exact"]["verdict"] == "pass"


def test_every_check_states_its_precondition() -> None:
    from wscheck.run.registry import SUITE

    assert [c.id for c in SUITE.all() if not c.precondition] == []


def test_in_process_disconnect_is_observed() -> None:
    from reference_app import app

    assert asgi_verdicts(app, only=("robust.disconnect",)) == {"robust.disconnect": "pass"}


@pytest.mark.parametrize(("verdict", "level", "unconcluded", "strict", "blocks"), [
    (Outcome.INCONCLUSIVE, "MUST", "precondition", False, True),
    (Outcome.INCONCLUSIVE, "SHOULD", "precondition", False, False),
    (Outcome.INCONCLUSIVE, "SHOULD", "precondition", True, True),
    (Outcome.INCONCLUSIVE, "MUST", "unobservable", True, False),
    (Outcome.PASS, "MUST", None, True, False),
])
def test_how_an_inconclusive_check_counts(verdict: Outcome, level: Level,
                                          unconcluded: Unconcluded | None, strict: bool,
                                          blocks: bool) -> None:
    record = CheckRecord("echo.exact", level, "/ws 2", "", verdict, unconcluded=unconcluded)
    assert blocks_exit_0(record, strict=strict) is blocks
