"""``wscheck replay``: a failing check's conversation from a report, run again.

A report is written against a mutant (an app that trims messages); replaying the failure on
the mutant still fails, replaying it on the fixed app conforms — in-process and over a real
socket. The httpx-ws snippet printed for network targets is run as a script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import apps
from tests.servers import serve_uvicorn
from tests.test_report import by_id, validate
from wscheck.cli.main import main
from wscheck.run.registry import SUITE

# Imported before any pytester run, so that inner runs share the one check registry.
SUITE.all()
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")


@pytest.fixture
def kit(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(wsapps=APPS_SOURCE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["replay", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_replay_reproduces_a_failure_and_sees_the_fix(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-report", "run.json",
                 "-k", "echo.whitespace or echo.exact")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Every failure says how to replay it.
    result.stdout.fnmatch_lines([
        "replay: wscheck replay run.json echo.whitespace --app wsapps:stripping_app"])
    capsys.readouterr()

    status, out, _ = replay(capsys, "run.json", "echo.whitespace", "--app",
                            "wsapps:stripping_app")
    assert status == 1
    assert "replaying echo.whitespace [MUST] on wsapps:stripping_app" in out
    assert "connect /ws\n  send text ' '\n  send text '  padded  '" in out
    now = out.split("\nnow:\n", 1)[1]
    assert ">> 1 text '接收到的消息是: '" in now
    assert "| text '接收到的消息是:'" in now
    assert out.rstrip().endswith("echo.whitespace: still fails")

    status, out, _ = replay(capsys, "run.json", "echo.whitespace", "--app", "wsapps:app")
    assert status == 0
    assert "replaying echo.whitespace [MUST] on wsapps:app" in out
    assert ">>" not in out.split("\nnow:\n", 1)[1]
    assert out.rstrip().endswith("echo.whitespace: the conversation now conforms")


def test_replay_over_the_network(kit: pytest.Pytester,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with serve_uvicorn(apps.stripping_app) as broken, serve_uvicorn(apps.app) as fixed:
        result = run(kit, "--wscheck-url", f"ws://{broken}", "--wscheck-report", "run.json",
                     "-k", "echo.newlines")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        result.stdout.fnmatch_lines([
            f"replay: wscheck replay run.json echo.newlines --url ws://{broken}"])
        capsys.readouterr()
        status, out, _ = replay(capsys, "run.json", "echo.newlines")
        assert status == 1
        assert f"on ws://{broken}" in out
        assert "the same conversation with httpx-ws:" in out
        status, out, _ = replay(capsys, "run.json", "echo.newlines", "--url", f"ws://{fixed}")
        assert status == 0, out


def test_failures_without_a_report_print_a_runnable_httpx_ws_script(
    kit: pytest.Pytester, tmp_path: Path
) -> None:
    with serve_uvicorn(apps.stripping_app) as broken:
        result = run(kit, "--wscheck-url", f"ws://{broken}", "-k", "echo.whitespace")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        out = result.stdout.str()
        assert "replay: this conversation with httpx-ws" in out
        script = out.split("# pip install httpx-ws\n", 1)[1]
        lines = ["# pip install httpx-ws"]
        for line in script.splitlines():
            if line.startswith(("=", "_", "-")):  # pytest's next section (or captured log)
                break
            lines.append(line)
        (tmp_path / "repro.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
        ran = subprocess.run([sys.executable, str(tmp_path / "repro.py")], capture_output=True,
                             text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    # The trimmed echo, as the check saw it.
    assert "接收到的消息是:padded" in ran.stdout
    assert "接收到的消息是:  padded  " not in ran.stdout


def test_masked_credentials_replay_with_stand_ins(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    kit.makepyfile(nocookie="""
        from wsapps import ChatApp

        class IgnoresCookie(ChatApp):
            async def _auth(self, scope, receive, send):
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
                await super()._auth(scope, receive, send)

        app = IgnoresCookie()
    """)
    result = run(kit, "--wscheck-app", "nocookie:app", "--wscheck-report", "run.json",
                 "-k", "auth.cookie")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    capsys.readouterr()
    status, out, _ = replay(capsys, "run.json", "auth.cookie", "--app", "nocookie:app")
    assert status == 1
    assert "the report masks credentials; stand-in values are used" in out
    assert "replay1" in out
    status, out, _ = replay(capsys, "run.json", "auth.cookie", "--app", "wsapps:app")
    assert status == 0, out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.json", "echo.exact"], "report missing.json does not exist"),
        (["run.json", "echo.nope"], "has no check 'echo.nope' (failures that can be "
                                    "replayed: echo.whitespace)"),
        (["run.json", "echo.exact"], "echo.exact is not a failure with a conversation in "
                                     "run.json (verdict pass)"),
        (["not-a-report.json", "echo.exact"], "is not a wscheck report"),
        (["run.json", "echo.whitespace", "--app", "nosuch:app"], "cannot import the app"),
    ],
    ids=["no-file", "unknown-id", "passed-check", "not-a-report", "bad-app"],
)
def test_replay_usage_errors_are_one_line(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-report", "run.json",
        "-k", "echo.whitespace or echo.exact")
    (kit.path / "not-a-report.json").write_text(json.dumps({"checks": []}), encoding="utf-8")
    capsys.readouterr()
    status, out, err = replay(capsys, *args)
    assert status == 4
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wscheck replay: ")
    assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "field", "line"),
    [
        (["--timeout", "nan", "--app", "wsapps:stripping_app"], None,
         "wscheck replay: --timeout must be more than 0 and at most 3600 seconds, got 'nan'"),
        (["--timeout", "inf", "--app", "wsapps:stripping_app"], None,
         "wscheck replay: --timeout must be more than 0 and at most 3600 seconds, got 'inf'"),
        (["--timeout", "-1", "--app", "wsapps:stripping_app"], None,
         "wscheck replay: --timeout must be more than 0 and at most 3600 seconds, got '-1'"),
        (["--url", "http://x"], None,
         "wscheck replay: --url must start with ws:// or wss://, got 'http://x'"),
        (["--url", "ws://x", "--app", "wsapps:app"], None,
         "wscheck replay: give either --app or --url, not both (one target per run)"),
        (["--app", "wsapps:stripping_app"], ("timeout", -5),
         "wscheck replay: run.json is not a valid wscheck report: settings.timeout must be a "
         "finite number, 0 or more (see docs/report-schema.md)"),
        (["--app", "wsapps:stripping_app"], ("quiet_window", "soon"),
         "wscheck replay: run.json is not a valid wscheck report: settings.quiet_window must "
         "be a finite number, 0 or more (see docs/report-schema.md)"),
    ],
    ids=["timeout-nan", "timeout-inf", "timeout-negative", "http-url", "app-and-url",
         "report-timeout-negative", "report-quiet-window-text"],
)
def test_replay_settings_are_checked_and_named_as_given(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str], args: list[str],
    field: tuple[str, object] | None, line: str
) -> None:
    """Flags and the report's own settings are validated like a run's, before anything
    runs, and named by the flag or the report field they came from."""
    run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-report", "run.json",
        "-k", "echo.whitespace")
    if field is not None:
        report = json.loads((kit.path / "run.json").read_text(encoding="utf-8"))
        report["settings"][field[0]] = field[1]
        (kit.path / "run.json").write_text(json.dumps(report), encoding="utf-8")
    capsys.readouterr()
    status, out, err = replay(capsys, "run.json", "echo.whitespace", *args)
    assert (status, out, err.strip().splitlines()) == (4, "", [line])


def test_run_and_replay_as_commands(tmp_path: Path) -> None:
    (tmp_path / "wsapps.py").write_text(APPS_SOURCE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    def wscheck(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wscheck", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)

    ran = wscheck("run", "--app", "wsapps:stripping_app", "--report", "out/run.json",
                  "--html", "out/run.html", "--", "-k", "echo.newlines")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    report_path = tmp_path / "out" / "run.json"
    assert (tmp_path / "out" / "run.html").is_file()
    assert f"replay: wscheck replay {report_path} echo.newlines" in ran.stdout
    ran = wscheck("replay", str(report_path), "echo.newlines", "--app", "wsapps:stripping_app")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "echo.newlines: still fails" in ran.stdout
    ran = wscheck("replay", "out/run.json", "echo.newlines", "--app", "wsapps:app")
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_failure_that_depends_on_the_space_spelling_replays_as_failing(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process the kit spells a space ``%20`` unless a value says otherwise; the token
    spelled with ``+`` that ``token_plus_kept`` mishandles must be sent with ``+`` again."""
    app = "tests.broken.token_plus_kept:app"
    result = run(kit, "--wscheck-app", app, "--wscheck-report", "run.json",
                 "--wscheck-show-credentials", "-k", "auth.token")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((kit.path / "run.json").read_text())
    validate(report)  # the schema takes the spelling
    record = next(r for r in report["checks"] if r["id"] == "auth.token")
    assert ["token", "a space b", "+"] in record["conversation"]["query"]
    capsys.readouterr()
    status, out, _ = replay(capsys, "run.json", "auth.token", "--app", app)
    assert status == 1, out
    assert out.rstrip().endswith("auth.token: still fails")
    status, out, _ = replay(capsys, "run.json", "auth.token", "--app", "wsapps:app")
    assert status == 0, out


def test_a_masked_token_with_spaces_replays_with_a_stand_in_spelled_the_same_way(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    app = "tests.broken.token_plus_kept:app"
    result = run(kit, "--wscheck-app", app, "--wscheck-report", "run.json", "-k", "auth.token")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    record = by_id(json.loads((kit.path / "run.json").read_text()))["auth.token"]
    assert ["token", "a•••", "+"] in record["conversation"]["query"]
    capsys.readouterr()
    status, out, _ = replay(capsys, "run.json", "auth.token", "--app", app)
    assert status == 1, out
    assert "token=replay 1" in out
    status, out, _ = replay(capsys, "run.json", "auth.token", "--app", "wsapps:app")
    assert status == 0, out


def test_a_conversation_keeps_its_origin_and_space_spellings_through_json() -> None:
    from wscheck.core.codec import conversation_from_json, conversation_to_json
    from wscheck.core.events import Conversation, SpacesAs

    conv = Conversation.of("/item/ws", "hi", origin=True, query={
        "token": SpacesAs("a b", "%20"), "q": "1 2"})
    back = conversation_from_json(json.loads(json.dumps(conversation_to_json(conv))))
    assert back == conv and back.origin
    token, q = (value for _, value in back.query)
    assert isinstance(token, SpacesAs) and token.spelling == "%20"
    assert not isinstance(q, SpacesAs)  # spelled the driver's way, as when it was sent


def test_bare_parameters_and_nameless_cookies_keep_their_shape_through_json() -> None:
    from wscheck.core.codec import conversation_from_json, conversation_to_json
    from wscheck.core.events import Conversation, SendText, SpacesAs
    from wscheck.core.render import render_conversation

    conv = Conversation("/item/ws", (SendText("hi"),),
                        query=(("debug", SpacesAs("", "bare")), ("token", "t")),
                        cookies=(("", "nameless"), ("session", '"quoted"')))
    back = conversation_from_json(json.loads(json.dumps(conversation_to_json(conv))))
    assert back == conv
    assert isinstance(back.query[0][1], SpacesAs) and back.query[0][1].spelling == "bare"
    assert "connect /item/ws?debug&token=t" in render_conversation(back)


@pytest.mark.parametrize(("check_id", "app", "shown"), [
    ("auth.query-syntax", "tests.broken.bare_param_crash:app", "?debug&token="),
    ("auth.cookie-syntax", "tests.broken.nameless_cookie_crash:app", "cookies: "),
    # Masked in the report, a quoted or padded cookie keeps its quotes and padding, and so
    # does the stand-in the replay sends.
    ("auth.cookie-syntax", "tests.broken.cookie_keeps_quotes:app", '"replay'),
    ("auth.cookie-syntax", "tests.broken.cookie_split_on_equals:app", 'replay1=='),
])
def test_credentials_shaped_like_real_ones_replay_as_sent(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str], check_id: str, app: str,
    shown: str,
) -> None:
    result = run(kit, "--wscheck-app", app, "--wscheck-report", "run.json", "-k", check_id)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    capsys.readouterr()
    status, out, _ = replay(capsys, "run.json", check_id, "--app", app)
    assert status == 1, out
    assert shown in out
    status, out, _ = replay(capsys, "run.json", check_id, "--app", "wsapps:app")
    assert status == 0, out


def test_a_failure_with_the_origin_header_replays_with_it(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    app = "tests.broken.refuses_browsers:app"
    result = run(kit, "--wscheck-app", app, "--wscheck-report", "run.json", "-k", "echo.accept")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    record = by_id(json.loads((kit.path / "run.json").read_text()))["echo.accept"]
    assert record["conversation"]["origin"] is True
    capsys.readouterr()
    status, out, _ = replay(capsys, "run.json", "echo.accept", "--app", app)
    assert status == 1, out
    assert "connect /ws  with the Origin header a browser sends" in out
    status, out, _ = replay(capsys, "run.json", "echo.accept", "--app", "wsapps:app")
    assert status == 0, out


def test_the_httpx_ws_snippet_sends_the_origin_and_the_space_spelling() -> None:
    from wscheck.core.events import Conversation, SpacesAs
    from wscheck.reporting.replay import httpx_ws_snippet

    conv = Conversation.of("/item/ws", "hi", origin=True,
                           query={"token": SpacesAs("a b", "%20"), "q": "1 2"})
    snippet = httpx_ws_snippet("ws://127.0.0.1:8000", conv)
    assert ("httpx_ws.connect_ws('ws://127.0.0.1:8000/item/ws?token=a%20b&q=1+2', "
            "headers={'Origin': 'http://127.0.0.1:8000'}) as ws:") in snippet


@pytest.mark.parametrize(("check_id", "app", "connect"), [
    ("prop.conversation", "tests.broken.refuses_browsers:app", "connect /ws"),
    ("prop.auth", "tests.broken.refuses_browsers_on_item:app", "connect /item/ws"),
])
def test_a_generated_failure_with_the_origin_header_shows_it_and_replays_with_it(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str], check_id: str, app: str,
    connect: str,
) -> None:
    """A generated conversation that fails only because of its Origin header: the shrunk
    example keeps the header (without it the app conforms), the failure text says so, the
    report keeps it and the replay sends it again."""
    result = run(kit, "--wscheck-app", app, "--wscheck-report", "run.json", "-k", check_id)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    shown = [line for line in result.stdout.lines if line.startswith(connect)]
    assert shown and all("  with the Origin header a browser sends" in line
                         for line in shown), result.stdout.str()
    report = json.loads((kit.path / "run.json").read_text())
    validate(report)
    assert by_id(report)[check_id]["conversation"]["origin"] is True
    capsys.readouterr()
    status, out, _ = replay(capsys, "run.json", check_id, "--app", app)
    assert status == 1, out
    assert "with the Origin header a browser sends" in out
    status, out, _ = replay(capsys, "run.json", check_id, "--app", "wsapps:app")
    assert status == 0, out
