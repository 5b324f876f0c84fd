"""The pytest plugin, run the way users run it: pytest in a scratch directory (``pytester``).

Runs are in-process (``runpytest``): the plugin keeps its event loop in a thread it stops at
unconfigure, and pytester restores ``sys.path`` and ``sys.modules`` after each run. The check
modules are imported here first, so that they are part of the preserved modules and the inner
runs find the one check registry instead of registering the checks twice.

Target apps come from ``tests/apps.py``, copied into the scratch directory as ``wsapps.py``.
"""

from __future__ import annotations

import re
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests import apps
from wscheck.core.spec import Spec, load_spec
from wscheck.run.registry import SUITE

CHECKS = SUITE.all()
CHECK_IDS = [c.id for c in CHECKS]
#: The checks that apply to the reference protocol (the broadcast room's do not).
APPLICABLE = [c.id for c in CHECKS if not c.not_applicable(Spec())]
#: The order the items run in: the checks that wait on the clock start first and are
#: reported last (with a concurrency above 1, the default), the others in suite order; a
#: check marked last (the long run) after them all.
RUN_ORDER = ([c.id for c in CHECKS if not c.waits and not c.last]
             + [c.id for c in CHECKS if c.waits and not c.last]
             + [c.id for c in CHECKS if c.last])
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")

#: The ids an app that trims messages on /ws must fail: whitespace and newlines come back
#: trimmed (/ws 2), and " bye", "bye\n", "\tbye" and "bye " end the chat (/ws 4). Every other
#: fixed check sends nothing with leading or trailing whitespace on /ws, or only on /item/ws.
#: " 5" of echo.syntax-like's catalogue is stripped too.
STRIPPING_FAILS = {"echo.whitespace", "echo.newlines", "echo.syntax-like", "bye.exact-word"}

FASTAPI_DOCS_TOML = """
[echo]
reply = "Message text was: {message}"
bye = ""
farewells = []

[auth]
path = "/items/{item_id}/ws"
q_reply = "Query parameter q is: {q}"
message_reply = "Message text was: {message}, for item ID: {item_id}"

[auth.path_params]
item_id = "foo"
"""

CUSTOM_APP = """
from reference_app import create_app
from wscheck.core.spec import load_spec

app = create_app(load_spec("custom.toml"))
"""


@pytest.fixture
def kit(pytester: pytest.Pytester) -> pytest.Pytester:
    """A scratch directory holding the test apps as ``wsapps.py``."""
    pytester.makepyfile(wsapps=APPS_SOURCE)
    return pytester


def run(pytester: pytest.Pytester, *args: str, asyncio: bool = False) -> pytest.RunResult:
    """pytest in the scratch directory; pytest-asyncio only for tests that use it (the suite
    itself does not need it)."""
    plugins = ["-p", "no:cacheprovider"] + ([] if asyncio else ["-p", "no:asyncio"])
    return pytester.runpytest(*plugins, *args)


def outcome_ids(result: pytest.RunResult, outcome: str) -> set[str]:
    """The check ids of the items reported with ``outcome`` in the short summary (-rA)."""
    found = set()
    for line in result.outlines:
        match = re.match(rf"{outcome} wscheck::(\S+)", line)
        if match:
            found.add(match.group(1))
    return found


def usage_error_line(result: pytest.RunResult) -> str:
    """The run was refused with exit 4 and a single line, no traceback; returns the line."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: ")
    return lines[0]


# --- collection --------------------------------------------------------------------------------


def test_every_check_is_collected_from_an_empty_directory(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:app", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    collected = [line for line in result.outlines if line.startswith("wscheck::")]
    assert collected == [f"wscheck::{i}" for i in RUN_ORDER]
    one_by_one = run(kit, "--wscheck-app", "wsapps:app", "--wscheck-concurrency", "1",
                     "--collect-only", "-q")
    assert [line for line in one_by_one.outlines if line.startswith("wscheck::")] == [
        f"wscheck::{i}" for i in [*(c.id for c in CHECKS if not c.last),
                                  *(c.id for c in CHECKS if c.last)]
    ]  # one after another: the suite's own order, the long run last
    for known in ("echo.exact", "bye.sequence", "auth.missing", "robust.binary"):
        assert f"wscheck::{known}" in collected


def test_without_a_target_nothing_is_added(kit: pytest.Pytester) -> None:
    result = run(kit)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.no_fnmatch_line("*wscheck::*")


def test_no_suite_adds_nothing(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:app", "--wscheck-no-suite", "--collect-only",
                 "-q")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.no_fnmatch_line("*wscheck::*")


@pytest.mark.parametrize("ini", ["pytest.ini", "pyproject.toml"])
def test_target_from_ini_key(kit: pytest.Pytester, ini: str) -> None:
    if ini == "pytest.ini":
        kit.path.joinpath("pytest.ini").write_text(
            "[pytest]\nwscheck_app = wsapps:app\nwscheck_timeout = 3\n", encoding="utf-8")
    else:
        kit.makepyprojecttoml(
            '[tool.pytest.ini_options]\nwscheck_app = "wsapps:app"\nwscheck_timeout = "3"\n')
    result = run(kit, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert [line for line in result.outlines if line.startswith("wscheck::")] == [
        f"wscheck::{i}" for i in RUN_ORDER]
    result = run(kit, "--collect-only")
    result.stdout.fnmatch_lines([
        f"wscheck: in-process ASGI target wsapps:app, spec {Spec().digest()}, timeout 3s*",
        f"configfile: {ini}"])


# --- verdicts ----------------------------------------------------------------------------------


def test_reference_app_passes(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "reference_app:app")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=len(APPLICABLE), skipped=len(CHECK_IDS) - len(APPLICABLE))
    result.stdout.fnmatch_lines(["*wscheck*", f"target: reference_app:app   spec: "
                                              f"{Spec().digest()}"])


def test_broken_app_fails_the_right_checks_with_a_readable_report(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "-rA",
                 "--junitxml=report.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = outcome_ids(result, "FAILED")
    # Property checks draw their messages: whether one draws a padded message is up to
    # Hypothesis, so they may fail too, but no other fixed check may.
    assert {i for i in failed if not i.startswith("prop.")} == STRIPPING_FAILS
    assert failed <= set(CHECK_IDS)
    assert outcome_ids(result, "PASSED") == set(APPLICABLE) - failed

    out = result.stdout.str()
    # The failure text: id, level, protocol line, the conversation, both columns, the marker.
    assert "echo.whitespace [MUST]: whitespace was trimmed or changed" in out
    assert "protocol /ws 2: leading, trailing and inner whitespace are kept" in out
    assert "conversation:" in out
    assert "connect /ws\n" in out
    assert "  send text '  padded  '" in out
    header = re.search(r"^ +expected +observed$", out, re.MULTILINE)
    assert header is not None
    marked = [line for line in result.outlines if line.startswith(">>")]
    assert marked[0].startswith(">> 1 text '接收到的消息是: '")
    assert marked[0].endswith("| text '接收到的消息是:'")
    assert "bye.exact-word [MUST]" in out
    assert "text '请注意:窗口即将关闭'" in out

    suite = ET.parse(kit.path / "report.xml").getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == set(CHECK_IDS)
    for check_id, case in cases.items():
        failure = case.find("failure")
        assert (failure is not None) == (check_id in failed), check_id
    failure = cases["echo.whitespace"].find("failure")
    assert failure is not None
    assert "whitespace was trimmed or changed" in (failure.text or "")
    assert ">>" in (failure.text or "")
    props = {p.get("name"): p.get("value")
             for p in cases["echo.whitespace"].iter("property")}
    assert props["wscheck_id"] == "echo.whitespace"
    assert props["wscheck_level"] == "MUST"


def test_should_failure_is_a_warning_unless_strict(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:wrong_binary_app", "-rA")
    assert result.ret == pytest.ExitCode.OK
    assert outcome_ids(result, "FAILED") == set()
    out = result.stdout.str()
    assert ("WscheckWarning: robust.binary [SHOULD]: a binary message did not get a close "
            "with 1003") in out
    assert "WARN  robust.binary [SHOULD]: a binary message did not get a close with 1003" in out
    musts = sum(c.level == "MUST" and not c.not_applicable(Spec()) for c in CHECKS)
    assert f"{musts} MUST pass, 2 SHOULD pass, 1 SHOULD warn" in out

    result = run(kit, "--wscheck-app", "wsapps:wrong_binary_app", "-rA",
                 "--wscheck-strict")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcome_ids(result, "FAILED") == {"robust.binary"}
    assert re.search(r"^>> 2 close 1003 +\| close 1000$", result.stdout.str(), re.MULTILINE)


def test_close_before_accept_passes_with_a_should_warning(kit: pytest.Pytester) -> None:
    """protocol.md /item/ws 1: a close before accept conforms; the kit passes it and warns
    once, at SHOULD level, that 1008 is not observable on the wire."""
    result = run(kit, "--wscheck-app", "wsapps:refusing_app", "-rA")
    assert outcome_ids(result, "FAILED") == set()
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "WARN  auth.missing-observable [SHOULD]: the app refuses the handshake" in out
    assert "1008 is not observable on the wire" in out
    assert "NOTE  auth.missing: " in out


# --- refused configurations: exit 4, one line, no traceback ------------------------------------

BAD_MODULES = {
    "badapps": """
        not_an_app = 42

        def two_args(scope, receive):
            pass

        def broken_factory():
            raise RuntimeError("no config for the app")
    """,
    "exploding": """
        import os

        SECRET = os.environ["WSCHECK_TEST_SURELY_UNSET_VARIABLE"]
        app = None
    """,
    "needsdep": """
        import surely_not_installed_dependency  # noqa: F401

        app = None
    """,
}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["--wscheck-app", "wsapps:app", "--wscheck-url", "ws://127.0.0.1:9"],
                     ["either --wscheck-app or --wscheck-url"], id="app-and-url"),
        pytest.param(["--wscheck-app", "nosuchmodule:app"],
                     ["cannot import the app 'nosuchmodule:app'",
                      "no module named 'nosuchmodule'"],
                     id="module-missing"),
        pytest.param(["--wscheck-app", "wsapps:nope"], ["has no attribute 'nope'"],
                     id="attribute-missing"),
        pytest.param(["--wscheck-app", "wsapps"], ["MODULE:ATTR"], id="no-colon"),
        pytest.param(["--wscheck-app", "badapps:not_an_app"], ["is int, not an ASGI app"],
                     id="not-callable"),
        pytest.param(["--wscheck-app", "badapps:two_args"], ["not an ASGI app"],
                     id="two-arguments"),
        pytest.param(["--wscheck-app", "wsapps:ChatApp"], ["is type, not an ASGI app"],
                     id="a-class"),
        pytest.param(["--wscheck-app", "badapps:broken_factory()"],
                     ["factory", "RuntimeError: no config for the app"], id="factory-raises"),
        pytest.param(["--wscheck-app", "badapps:not_an_app()"], ["not callable"],
                     id="factory-not-callable"),
        pytest.param(["--wscheck-app", "exploding:app"],
                     ["importing 'exploding' raised KeyError",
                      "WSCHECK_TEST_SURELY_UNSET_VARIABLE"], id="import-raises"),
        pytest.param(["--wscheck-app", "needsdep:app"],
                     ["importing 'needsdep' failed", "surely_not_installed_dependency"],
                     id="import-of-missing-dependency"),
        pytest.param(["--wscheck-url", "http://127.0.0.1:8000"], ["ws:// or wss://"],
                     id="http-url"),
        pytest.param(["--wscheck-app", "wsapps:app", "--wscheck-spec", "malformed.toml"],
                     ["malformed.toml", "not valid TOML"], id="malformed-spec"),
        pytest.param(["--wscheck-app", "wsapps:app", "--wscheck-spec", "typo.toml"],
                     ["typo.toml", "unknown key 'echo.replyy'"], id="unknown-spec-key"),
        pytest.param(["--wscheck-app", "wsapps:app", "--wscheck-spec", "missing.toml"],
                     ["missing.toml", "does not exist"], id="missing-spec"),
        pytest.param(["--wscheck-app", "wsapps:app", "--wscheck-timeout", "soon"],
                     ["--wscheck-timeout", "'soon'"], id="timeout-not-a-number"),
        pytest.param(["--wscheck-app", "wsapps:app", "--wscheck-timeout", "0"],
                     ["--wscheck-timeout must be more than 0 and at most 3600 seconds, "
                      "got '0'"], id="timeout-zero"),
    ],
)
def test_bad_configuration_is_a_one_line_usage_error(
    kit: pytest.Pytester, args: list[str], fragments: list[str]
) -> None:
    kit.makepyfile(**{name: textwrap.dedent(src) for name, src in BAD_MODULES.items()})
    kit.path.joinpath("malformed.toml").write_text("[echo\n", encoding="utf-8")
    kit.path.joinpath("typo.toml").write_text('[echo]\nreplyy = "{message}"\n',
                                              encoding="utf-8")
    line = usage_error_line(run(kit, *args))
    for fragment in fragments:
        assert fragment in line


def test_bad_spec_key_in_pyproject_is_a_usage_error(kit: pytest.Pytester) -> None:
    kit.makepyprojecttoml('[tool.wscheck.auth]\ncookie_name = "sid"\n')
    line = usage_error_line(run(kit, "--wscheck-app", "wsapps:app"))
    assert "[tool.wscheck]" in line
    assert "'auth.cookie_name'" in line


# --- other protocols ---------------------------------------------------------------------------


def test_spec_file_describes_another_protocol(kit: pytest.Pytester) -> None:
    kit.path.joinpath("custom.toml").write_text(FASTAPI_DOCS_TOML, encoding="utf-8")
    kit.makepyfile(customapp=CUSTOM_APP)
    spec = load_spec(kit.path / "custom.toml")
    result = run(kit, "--wscheck-app", "customapp:app", "--wscheck-spec", "custom.toml")
    assert result.ret == pytest.ExitCode.OK
    not_applicable = [c.id for c in CHECKS if c.not_applicable(spec)]
    assert "bye.sequence" in not_applicable
    result.assert_outcomes(passed=len(CHECK_IDS) - len(not_applicable),
                           skipped=len(not_applicable))
    assert f"spec: {spec.digest()}" in result.stdout.str()

    # The same app judged against the reference protocol fails: the spec was what passed it.
    result = run(kit, "--wscheck-app", "customapp:app", "-rA",
                 "-k", "echo.exact or auth.token")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert outcome_ids(result, "FAILED") == {"echo.exact", "auth.token"}


def test_tool_wscheck_in_pyproject_is_the_spec(kit: pytest.Pytester) -> None:
    kit.makepyprojecttoml(
        '[tool.pytest.ini_options]\nwscheck_app = "wsapps:custom_app"\n\n'
        '[tool.wscheck.echo]\nreply = "You said: {message}"\nbye = "quit"\n'
        'farewells = ["ciao"]\n')
    kit.makepyfile(wsapps=APPS_SOURCE + textwrap.dedent("""

        from wscheck.core.spec import EchoSpec
        custom_app = ChatApp(Spec(echo=EchoSpec(reply="You said: {message}", bye="quit",
                                                farewells=("ciao",))))
    """))
    result = run(kit, "-rA")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=len(APPLICABLE), skipped=len(CHECK_IDS) - len(APPLICABLE))
    digest = load_spec(kit.path / "pyproject.toml").digest()
    assert digest != Spec().digest()
    assert f"spec: {digest}" in result.stdout.str()


# --- targets that need more than an attribute ---------------------------------------------------


def test_factory_target(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:create_app()",
                 "-k", "echo.exact or bye.sequence or auth.cookie")
    assert result.ret == pytest.ExitCode.OK
    # auth.cookie, auth.cookie-precedence and auth.cookie-syntax
    result.assert_outcomes(passed=5)


def test_lifespan_state_reaches_the_app(kit: pytest.Pytester) -> None:
    result = run(kit, "--wscheck-app", "wsapps:stateful_app",
                 "-k", "echo.exact or auth.token or robust.disconnect")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=3)


def test_silent_target_stops_the_run_fast(kit: pytest.Pytester) -> None:
    start = time.monotonic()
    result = run(kit, "--wscheck-app", "wsapps:busy_silent", "--wscheck-timeout", "1")
    # A run that waited out the timeout in every check would take a minute or more.
    assert time.monotonic() - start < 30
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the target does not answer*answered nothing within 1s*"])


# --- fixtures for users' own tests ---------------------------------------------------------------

USER_TESTS = """
import pytest

from wscheck import Accepted, Closed, Conversation, Spec, Text


def test_run_is_synchronous(wscheck_run, wscheck_spec):
    assert wscheck_spec == Spec()
    obs = wscheck_run(Conversation.of(wscheck_spec.echo.url_path(), "hi", "bye"))
    assert obs.ok, obs
    assert obs.observed == (Accepted(), Text("接收到的消息是:hi"), Text("请注意:窗口即将关闭"),
                            Text("窗口已关闭"), Closed(1000))


@pytest.mark.asyncio
async def test_connect_is_asynchronous(wscheck_connect):
    conn = await wscheck_connect("/item/ws", query={"token": "t", "q": "7"})
    assert conn.handshake == Accepted()
    await conn.send_text("hi")
    assert [await conn.receive() for _ in range(3)] == [
        Text("Session cookie or query token value is: t"),
        Text("parameter q is: 7"),
        Text("Message text was: hi, for : 7"),
    ]
    assert await conn.quiet() is None


def test_target_settings(wscheck_target):
    assert wscheck_target.app == "reference_app:app"
    assert wscheck_target.url is None
"""


def test_fixtures_in_user_tests(kit: pytest.Pytester) -> None:
    kit.makepyfile(test_mine=USER_TESTS)
    result = run(kit, "--wscheck-app", "reference_app:app", "--wscheck-no-suite",
                 "-o", "asyncio_mode=strict", "-o", "asyncio_default_fixture_loop_scope=function",
                 asyncio=True)
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK


def test_fixture_without_a_target_says_what_to_do(kit: pytest.Pytester) -> None:
    kit.makepyfile(test_mine="""
        from wscheck import Spec

        def test_needs_a_target(wscheck_run):
            pass

        def test_spec_needs_none(wscheck_spec):
            assert wscheck_spec == Spec()
    """)
    result = run(kit)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*this test uses a wscheck fixture but no target is configured: run pytest with "
        "--wscheck-app MODULE:ATTR or --wscheck-url ws://HOST:PORT*"])
    assert "Traceback" not in result.stdout.str()


def test_connect_probes_the_target_before_the_test_not_on_its_loop(kit: pytest.Pytester) -> None:
    """The probe blocks until the target answers or the deadline passes: it runs in the
    fixture's setup, so a target that never answers is an error before the test starts, and
    ``await wscheck_connect(...)`` never blocks the test's own event loop."""
    kit.makepyfile(test_mine="""
        import pytest

        @pytest.mark.asyncio
        async def test_never_reached(wscheck_connect):
            raise AssertionError("the test ran although the target does not answer")
    """)
    result = run(kit, "--wscheck-app", "wsapps:busy_silent", "--wscheck-no-suite",
                 "--wscheck-timeout", "1", "-o", "asyncio_mode=strict",
                 "-o", "asyncio_default_fixture_loop_scope=function", asyncio=True)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_never_reached*",
                                 "*answered nothing within 1s*"])
    assert "the test ran" not in result.stdout.str()
