"""Run reports: the JSON report and its schema, the HTML page in a real browser, credentials
masking, JUnit XML, pytest-xdist and progress lines.

Runs are pytester runs in a scratch directory, as in ``test_plugin.py``; the test apps are
``tests/apps.py`` copied in as ``wsapps.py``.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests import apps
from tests.test_reference_browser import CHROMIUM, CHROMIUM_ARGS
from wscheck.core.codec import conversation_from_json, event_from_json
from wscheck.core.spec import Spec
from wscheck.pytest import plugin
from wscheck.reporting.json_report import VERDICTS
from wscheck.reporting.redaction import mask
from wscheck.run.registry import SUITE

APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")
SCHEMA_DOC = Path(__file__).resolve().parent.parent / "docs" / "report-schema.md"
CHECKS = {c.id: c for c in SUITE.all()}

#: A protocol without a bye word (so the bye checks are skipped), one known failure that still
#: fails and one that passes, for an app that trims messages and closes binary with 1000.
SPEC_TOML = """
expected_failures = ["echo.newlines", "echo.exact"]

[echo]
bye = ""
farewells = []
"""

MIXED_APP = """
from wsapps import ChatApp
from wscheck.core.spec import EchoSpec, Spec

app = ChatApp(Spec(echo=EchoSpec(bye=None, farewells=())), strip=True, binary_code=1000)
"""

MIXED_SELECTION = ("echo.exact or echo.whitespace or echo.newlines or bye.sequence "
                   "or robust.binary or auth.token")

#: The app sends HTML and script back instead of the protocol's replies; the spec puts markup
#: into the expected replies too. Nothing of it may run in the report.
XSS_APP = r'''
PAYLOAD = ('<script>window.__pwned = 1; alert("script")</script>'
           '<img src=x onerror="window.__pwned = 2; alert(2)">')

async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": PAYLOAD + (message.get("text") or "")})
'''

#: The conforming chat, 10 ms slower per message: a property check takes a moment.
SLOW_APP = """
import asyncio

from wsapps import ChatApp

chat = ChatApp()

async def app(scope, receive, send):
    async def slow_receive():
        message = await receive()
        if message["type"] == "websocket.receive":
            await asyncio.sleep(0.01)
        return message

    await chat(scope, slow_receive, send)
"""

XSS_SPEC = r"""
[echo]
reply = "<b onmouseover=alert(3)>{message}</b></td></tr></table><script>window.__pwned=3</script>"
"""


@pytest.fixture
def kit(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(wsapps=APPS_SOURCE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


def report_schema() -> dict[str, Any]:
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    match = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert match, "docs/report-schema.md holds the JSON Schema in a ```json block"
    schema: dict[str, Any] = json.loads(match.group(1))
    return schema


def validate(report: dict[str, Any]) -> None:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema belongs to the test extra
        message = "jsonschema is not installed: pip install -e '.[test]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


# --- JSON ----------------------------------------------------------------------------------


def test_json_report_has_every_verdict_and_matches_its_schema(kit: pytest.Pytester) -> None:
    kit.makepyfile(mixed=MIXED_APP)
    kit.path.joinpath("nobye.toml").write_text(SPEC_TOML, encoding="utf-8")
    result = run(kit, "--wscheck-app", "mixed:app", "--wscheck-spec", "nobye.toml",
                 "--wscheck-report", "reports/run.json", "-k", MIXED_SELECTION)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["wscheck: report written to reports/run.json"])
    report = json.loads((kit.path / "reports" / "run.json").read_text(encoding="utf-8"))
    validate(report)

    checks = by_id(report)
    assert {i: c["verdict"] for i, c in checks.items()} == {
        "echo.exact": "xpass",         # listed, but passes: fails the run
        "echo.whitespace": "fail",
        "echo.newlines": "xfail",      # listed, still fails
        "bye.sequence": "skip",        # the spec has no bye word
        "auth.token": "pass",
        "robust.binary": "warn",       # SHOULD
    }
    assert [c["id"] for c in report["checks"]] == [
        i for i in CHECKS if i in checks], "suite order"
    assert report["summary"] == {**dict.fromkeys(VERDICTS, 0), "pass": 1, "fail": 1,
                                 "warn": 1, "xfail": 1, "xpass": 1, "skip": 1}
    assert report["exit_status"] == 1
    assert report["target"] == {"kind": "app", "value": "mixed:app"}
    assert report["kit"]["name"] == "wscheck"
    assert report["spec"]["data"]["echo"]["bye"] == ""
    assert report["settings"]["expected_failures"] == ["echo.exact", "echo.newlines"]
    assert report["settings"]["credentials_shown"] is False

    failed = checks["echo.whitespace"]
    assert failed["problem"] == "whitespace was trimmed or changed"
    assert failed["level"] == "MUST" and failed["line"] == "/ws 2"
    conversation = conversation_from_json(failed["conversation"])
    assert conversation.path == "/ws"
    assert failed["conversation"]["actions"][1] == {"type": "send_text", "text": "  padded  "}
    assert failed["expected"][0] == {"type": "accepted"}
    assert failed["expected"][1] == {"type": "text", "text": "接收到的消息是: "}
    assert failed["observed"][1] == {"type": "text", "text": "接收到的消息是:"}
    assert failed["first_difference"] == 1
    assert failed["duration"] > 0
    assert failed["replay"] == "wscheck replay reports/run.json echo.whitespace --app mixed:app"
    assert [event_from_json(e) for e in failed["observed"]][-1:] != []

    binary = checks["robust.binary"]
    assert binary["observed"][-1] == {"type": "closed", "code": 1000, "reason": ""}
    assert binary["expected"][-1]["code"] == 1003
    assert checks["echo.exact"]["message"].startswith("[XPASS(strict)] known failure")
    assert "not applicable: the spec has no bye word" in checks["bye.sequence"]["message"]
    assert checks["auth.token"]["problem"] is None
    assert checks["echo.newlines"]["problem"] == "newlines were dropped or changed"


def test_a_check_without_verdict_is_an_error_in_the_report(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:busy_silent", "--wscheck-timeout", "0.3",
                 "--wscheck-report", "run.json", "-k", "echo.exact or echo.empty")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((kit.path / "run.json").read_text(encoding="utf-8"))
    validate(report)
    exact = by_id(report)["echo.exact"]
    assert exact["verdict"] == "error"
    assert "answered nothing within 0.3s" in exact["message"]
    assert exact["conversation"] is None


def test_the_schema_rejects_what_it_should(kit: pytest.Pytester) -> None:
    """The schema is strict enough to catch a malformed report (the test above can fail)."""
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-report", "run.json",
                 "-k", "echo.whitespace")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((kit.path / "run.json").read_text(encoding="utf-8"))
    validate(report)
    for breakage in ("verdict", "event", "missing"):
        broken = json.loads(json.dumps(report))
        check = broken["checks"][0]
        if breakage == "verdict":
            check["verdict"] = "passed"
        elif breakage == "event":
            check["observed"][1] = {"type": "text", "txt": "no such field"}
        else:
            del check["conversation"]
        with pytest.raises(AssertionError):
            validate(broken)


# --- credentials ---------------------------------------------------------------------------

TOKEN_WINS = """
from wsapps import ChatApp

class TokenWins(ChatApp):
    async def _auth(self, scope, receive, send):
        # the token wins: drop the cookie header whenever there is a token
        if b"token=" in scope["query_string"]:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
        await super()._auth(scope, receive, send)

app = TokenWins()
"""


@pytest.mark.parametrize("shown", [False, True], ids=["masked", "shown"])
def test_credentials_are_masked_unless_shown(kit: pytest.Pytester, shown: bool) -> None:
    kit.makepyfile(tokenwins=TOKEN_WINS)
    args = ["--wscheck-show-credentials"] if shown else []
    result = run(kit, "--wscheck-app", "tokenwins:app", "--wscheck-report", "run.json",
                 "--wscheck-html", "run.html", "-k", "auth.cookie-precedence", *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = (kit.path / "run.json").read_text(encoding="utf-8")
    page = (kit.path / "run.html").read_text(encoding="utf-8")
    report = json.loads(text)
    validate(report)
    record = by_id(report)["auth.cookie-precedence"]
    query = dict(map(tuple, record["conversation"]["query"]))
    cookies = dict(map(tuple, record["conversation"]["cookies"]))
    lines = [e["text"] for e in record["expected"] + record["observed"] if e["type"] == "text"]
    if shown:
        assert (query["token"], cookies["session"]) == ("from-token", "from-cookie")
        assert "Session cookie or query token value is: from-cookie" in lines
        assert report["settings"]["credentials_shown"] is True
    else:
        # Both start with "f": the masks still tell them apart.
        assert {query["token"], cookies["session"]} == {"f•••", "f•••2"}
        assert f"Session cookie or query token value is: {cookies['session']}" in lines
        assert f"Session cookie or query token value is: {query['token']}" in lines
        for secret in ("from-token", "from-cookie"):
            assert secret not in text
            assert secret not in page
        assert record["first_difference"] == 1  # found on the real values
    assert mask("") == "" and mask("abc") == "a•••"


# --- HTML ----------------------------------------------------------------------------------


def test_html_report_is_self_contained_and_shows_the_difference(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-html", "run.html",
                 "-k", "echo.whitespace or echo.exact")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    page = (kit.path / "run.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # Nothing to fetch: no external stylesheet, script, image or font.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page and "<script" not in page
    # The summary table: id, level, verdict colour, duration, description.
    assert re.search(r'<a href="#check-echo\.whitespace"><code>echo\.whitespace</code></a>'
                     r'</td><td>MUST</td><td><span class="v" style="background:#cf222e">fail'
                     r'</span></td><td class="dur">\d+\.\d{3}s</td>', page)
    assert "#1a7f37\">pass</span>" in page
    # Side by side, the first difference marked.
    diff_rows = re.findall(r'<tr class="diff">(.*?)</tr>', page)
    assert len(diff_rows) == 1
    assert "接收到的消息是: " in diff_rows[0] and "接收到的消息是:&#x27;" in diff_rows[0]


@pytest.fixture
def browser_page() -> Any:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser.new_context().new_page()
        finally:
            browser.close()


def test_html_report_escapes_everything_the_app_sent(kit: pytest.Pytester,
                                                     browser_page: Any) -> None:
    kit.makepyfile(xss=XSS_APP)
    kit.path.joinpath("xss.toml").write_text(XSS_SPEC, encoding="utf-8")
    result = run(kit, "--wscheck-app", "xss:app", "--wscheck-spec", "xss.toml",
                 "--wscheck-html", "run.html", "-k", "echo.exact or echo.whitespace")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    page = browser_page
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.goto((kit.path / "run.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.querySelectorAll('script, img, b').length") == 0
    body = page.inner_text("body")
    assert '<script>window.__pwned = 1; alert("script")</script>' in body
    assert '<img src=x onerror="window.__pwned = 2; alert(2)">' in body
    assert "<script>window.__pwned=3</script>" in body  # from the spec: the expected column
    # Two checks, both in the summary table and both with a section: the markup did not
    # close a table early or swallow a row.
    assert page.evaluate("document.querySelectorAll('table.summary tr').length") == 3
    assert page.evaluate("document.querySelectorAll('section.check').length") == 2
    assert requests == [(kit.path / "run.html").as_uri()]


# --- JUnit, xdist, progress ----------------------------------------------------------------


def test_junit_names_cases_by_check_id_and_carries_the_failure(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--junitxml=junit.xml",
                 "--wscheck-report", "run.json", "-k", "echo.exact or echo.whitespace")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    suite = ET.parse(kit.path / "junit.xml").getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"echo.exact", "echo.whitespace"}
    failure = cases["echo.whitespace"].find("failure")
    assert failure is not None and cases["echo.exact"].find("failure") is None
    assert "echo.whitespace [MUST]: whitespace was trimmed or changed" in (failure.text or "")
    assert "replay: wscheck replay run.json echo.whitespace" in (failure.text or "")
    names = {p.get("name") for p in suite.iter("property")}
    assert "wscheck_id" in names
    assert "wscheck_record" not in names  # the report's record stays out of the XML


@pytest.mark.slow  # xdist workers start slowly
def test_xdist_controller_writes_the_same_report(kit: pytest.Pytester) -> None:
    selection = "echo.exact or echo.whitespace or echo.newlines or auth.token"
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-report", "x.json",
                 "-n", "2", "-k", selection)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((kit.path / "x.json").read_text(encoding="utf-8"))
    validate(report)
    verdicts = {i: c["verdict"] for i, c in by_id(report).items()}
    assert verdicts == {"echo.exact": "pass", "echo.whitespace": "fail",
                        "echo.newlines": "fail", "auth.token": "pass"}
    assert by_id(report)["echo.newlines"]["first_difference"] == 3
    assert report["summary"]["fail"] == 2


def test_long_property_checks_show_progress(kit: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """In a subprocess, so that output capture is really on (fd-level) while checks run. Four
    examples of a slowed app outlast many 50 ms progress intervals: the count is not the point."""
    kit.makepyfile(slow=SLOW_APP)
    kit.makeconftest("import wscheck.pytest.plugin\n\n"
                     "wscheck.pytest.plugin.PROGRESS_INTERVAL = 0.05\n")
    # (in-process runs below import this conftest too, and its setting stays: restore it)
    monkeypatch.setattr(plugin, "PROGRESS_INTERVAL", plugin.PROGRESS_INTERVAL)
    args = ["-p", "no:cacheprovider", "-p", "no:asyncio", "--wscheck-app", "slow:app",
            "-k", "prop.echo", "--wscheck-examples", "4"]
    result = kit.runpytest_subprocess(*args, "-v")
    assert result.ret == pytest.ExitCode.OK
    progress = [line for line in result.outlines if "prop.echo: " in line]
    assert progress, result.stdout.str()
    assert re.fullmatch(r"  prop\.echo: \d+ conversations, \d+s \(up to 4 examples\)",
                        progress[-1])
    # Quiet with -q (in-process is enough here: capture plays no part in staying quiet).
    result = kit.runpytest(*args, "-q")
    assert result.ret == pytest.ExitCode.OK
    assert not [line for line in result.outlines if "conversations," in line]


def test_reports_are_written_even_when_the_target_cannot_start(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:failing_startup", "--wscheck-report",
                 "run.json", "--wscheck-html", "run.html", "-k", "echo.exact")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((kit.path / "run.json").read_text(encoding="utf-8"))
    validate(report)
    assert by_id(report)["echo.exact"]["verdict"] == "error"
    assert "database unreachable" in by_id(report)["echo.exact"]["message"]
    assert "error</span>" in (kit.path / "run.html").read_text(encoding="utf-8")
    assert Spec().digest() == report["spec"]["digest"]
