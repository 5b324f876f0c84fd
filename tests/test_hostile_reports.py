"""``wscheck replay`` on reports that are malformed, hand-edited or hostile.

A report is an artifact people share, so replay trusts it for nothing: every field it uses is
type-checked first (one line, exit 4, never a traceback), it imports an in-process app only
when ``--app`` names one, it reads a CA bundle only when ``--ca-file`` names one, and what the
report says is printed with its control characters escaped.

The reports are built here from one hand-written valid report (checked against the JSON
Schema of ``docs/report-schema.md``), each broken in one place; every broken one the schema
can judge is checked to be refused by the schema too, so the reader and the schema agree.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests import apps
from tests.test_report import report_schema, validate
from wscheck.cli.main import main
from wscheck.core.spec import Spec
from wscheck.errors import TargetDown
from wscheck.reporting.json_report import spec_json

APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")

Report = dict[str, Any]


def valid_report(kind: str = "app", value: str = "wsapps:stripping_app") -> Report:
    """A report of one failing check (``echo.whitespace`` on an app that trims messages)."""
    return {
        "format": "wscheck-report/1",
        "kit": {"name": "wscheck", "version": "0.1.0"},
        "timestamp": "2026-01-01T00:00:00+00:00",
        "target": {"kind": kind, "value": value},
        "spec": spec_json(Spec()),
        "settings": {"timeout": 2.0, "quiet_window": 0.2, "examples": 10, "strict": False,
                     "ca_file": None, "credentials_shown": False, "expected_failures": []},
        "exit_status": 1,
        "summary": {"fail": 1},
        "checks": [{
            "id": "echo.whitespace", "level": "MUST", "line": "/ws 2",
            "description": "whitespace is kept", "verdict": "fail", "duration": 0.01,
            "problem": "whitespace was trimmed or changed", "inconclusive": None,
            "unconcluded": None, "notes": [], "message": None,
            "conversation": {"path": "/ws", "query": [], "cookies": [], "pipelined": False,
                             "actions": [{"type": "send_text", "text": "  padded  "}]},
            "expected": [{"type": "accepted"},
                         {"type": "text", "text": "接收到的消息是:  padded  "}],
            "observed": [{"type": "accepted"}, {"type": "text", "text": "接收到的消息是:padded"}],
            "first_difference": 1, "aftermath": None, "replay": None,
        }],
    }


def _set(path: str, value: object) -> Callable[[Report], None]:
    """A mutation: set the field at a dotted path (``checks.0.verdict``) to ``value``."""
    def mutate(report: Report) -> None:
        *parents, last = path.split(".")
        node: Any = report
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def _delete(path: str) -> Callable[[Report], None]:
    def mutate(report: Report) -> None:
        *parents, last = path.split(".")
        node: Any = report
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]
    return mutate


#: name → (mutation, a fragment of the one-line error). All are refused by the schema too.
BROKEN: dict[str, tuple[Callable[[Report], None], str]] = {
    "no-target": (_delete("target"), "target must be an object"),
    "target-kind": (_set("target.kind", "exe"), "target.kind must be 'app' or 'url'"),
    "target-value-number": (_set("target.value", 5), "target.value must be a string"),
    "no-settings": (_delete("settings"), "settings must be an object"),
    "timeout-string": (_set("settings.timeout", "2"), "settings.timeout must be a finite"),
    "timeout-negative": (_set("settings.timeout", -1), "settings.timeout must be a finite"),
    "no-spec-data": (_delete("spec.data"), "spec.data must be an object"),
    "checks-object": (_set("checks", {"echo.whitespace": {}}), "checks must be an array"),
    "check-string": (_set("checks.0", "echo.whitespace"), "checks[0] must be an object"),
    "id-number": (_set("checks.0.id", 7), "checks[0].id must be a string"),
    "verdict-unknown": (_set("checks.0.verdict", "maybe"), "checks[0].verdict is not a"),
    "level-unknown": (_set("checks.0.level", "MAY"), "checks[0].level must be MUST or"),
    "problem-number": (_set("checks.0.problem", 1), "checks[0].problem must be a string"),
    "conversation-string": (_set("checks.0.conversation", "connect /ws"),
                            "checks[0].conversation must be an object"),
    "no-path": (_delete("checks.0.conversation.path"), "conversation.path must be a string"),
    "path-relative": (_set("checks.0.conversation.path", "ws"), "conversation.path must be"),
    "query-not-pairs": (_set("checks.0.conversation.query", [["token"]]),
                        "conversation.query[0] must be a [name, value] pair"),
    "query-spelling-unknown": (_set("checks.0.conversation.query", [["token", "a b", "_"]]),
                               "conversation.query[0][2] must be '+', '%20' or 'bare'"),

    "query-four-items": (_set("checks.0.conversation.query", [["token", "a", "+", "+"]]),
                         "conversation.query[0] must be a [name, value] pair, or"),
    "origin-string": (_set("checks.0.conversation.origin", "yes"),
                      "conversation.origin must be a boolean"),
    "cookie-number": (_set("checks.0.conversation.cookies", [["session", 5]]),
                      "conversation.cookies[0][1] must be a string"),
    "no-actions": (_delete("checks.0.conversation.actions"),
                   "conversation.actions must be an array"),
    "action-unknown": (_set("checks.0.conversation.actions.0", {"type": "exec", "cmd": "id"}),
                       "actions[0].type is not an action type"),
    "action-text-number": (_set("checks.0.conversation.actions.0",
                                {"type": "send_text", "text": 5}),
                           "actions[0].text must be a string"),
    "action-extra-field": (_set("checks.0.conversation.actions.0",
                                {"type": "send_text", "text": "x", "then": "rm"}),
                           "actions[0].then is not a known field"),
    "bytes-not-base64": (_set("checks.0.conversation.actions.0",
                              {"type": "send_bytes", "base64": "*!*", "size": 3}),
                         "actions[0].base64 must be base64"),
    "close-code-bool": (_set("checks.0.conversation.actions.0",
                             {"type": "client_close", "code": True}),
                        "actions[0].code must be an integer"),
    "event-unknown": (_set("checks.0.observed.1", {"type": "teleport"}),
                      "observed[1].type is not an event type"),
    "event-missing-field": (_set("checks.0.expected.1", {"type": "text"}),
                            "expected[1].text is missing"),
    "closed-code-string": (_set("checks.0.observed.1", {"type": "closed", "code": "1000",
                                                         "reason": ""}),
                           "observed[1].code must be an integer"),
    "refused-status-string": (_set("checks.0.observed.1", {"type": "refused", "status": "403",
                                                            "close_code": None}),
                              "observed[1].status must be an integer or null"),
    "observed-object": (_set("checks.0.observed", {"0": {"type": "accepted"}}),
                        "checks[0].observed must be an array"),
    "first-difference-string": (_set("checks.0.first_difference", "1"),
                                "first_difference must be an integer or null"),
}

#: Broken in ways the schema does not judge (its spec is any object; nesting is unbounded).
BROKEN_BEYOND_SCHEMA: dict[str, tuple[Callable[[Report], None], str]] = {
    "spec-data-invalid": (_set("spec.data", {"echo": {"path": "ws"}}),
                          "echo.path must start with '/'"),
    "spec-data-wrong-type": (_set("spec.data", {"echo": {"bye_close_code": "1000"}}),
                             "echo.bye_close_code must be an integer"),
    "timeout-huge": (_set("settings.timeout", 1e9), "give --timeout SECONDS"),
    "cookie-header-breaking": (_set("checks.0.conversation.cookies", [["a=b; c", "v"]]),
                               "must hold cookies that fit in a Cookie header"),
    "query-bare-with-a-value": (_set("checks.0.conversation.query", [["debug", "x", "bare"]]),
                                "conversation.query[0][1] must be empty when spelled bare"),
    "cookie-nameless-with-equals": (_set("checks.0.conversation.cookies", [["", "a=b"]]),
                                    "must hold cookies that fit in a Cookie header"),
    "client-close-code": (_set("checks.0.conversation.actions.0",
                               {"type": "client_close", "code": 99}),
                          "actions[0].code must be a close code"),
}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch directory with the test apps, as the current directory. Replay puts it on
    ``sys.path`` and imports ``wsapps`` from it: both are undone afterwards, so that later
    runs import their own ``wsapps``."""
    (tmp_path / "wsapps.py").write_text(APPS_SOURCE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    sys.modules.pop("wsapps", None)


def write(path: Path, report: object) -> str:
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return str(path)


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["replay", *args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_refused(status: int, out: str, err: str, fragment: str) -> None:
    assert status == 4, out + err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("wscheck replay: ")
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err


def test_the_valid_report_is_valid_and_replays(here: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The base every broken report starts from: the schema accepts it and it replays."""
    report = valid_report()
    validate(report)
    path = write(here / "run.json", report)
    status, out, _ = replay(capsys, path, "echo.whitespace", "--app", "wsapps:stripping_app")
    assert status == 1, out
    assert out.rstrip().endswith("echo.whitespace: still fails")
    status, out, _ = replay(capsys, path, "echo.whitespace", "--app", "wsapps:app")
    assert status == 0, out


@pytest.mark.parametrize("case", list(BROKEN) + list(BROKEN_BEYOND_SCHEMA))
def test_a_broken_report_is_one_line(here: Path, capsys: pytest.CaptureFixture[str],
                                     case: str) -> None:
    mutate, fragment = {**BROKEN, **BROKEN_BEYOND_SCHEMA}[case]
    report = valid_report()
    mutate(report)
    path = write(here / "run.json", report)
    assert_refused(*replay(capsys, path, "echo.whitespace", "--app", "wsapps:app"), fragment)


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_schema_refuses_the_same_reports(case: str) -> None:
    import jsonschema

    report = valid_report()
    BROKEN[case][0](report)
    validator = jsonschema.Draft202012Validator(report_schema())
    assert list(validator.iter_errors(copy.deepcopy(report))), case


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[" * 200_000 + "]" * 200_000, "nests too deep"),
        ('{"format": "wscheck-report/1", "checks": ' + "[" * 100_000 + "]" * 100_000 + "}",
         "nests too deep"),
        ("[]", "is not a wscheck report"),
        ('{"format": "wscheck-report/99"}', "this wscheck reads wscheck-report/1"),
        ('{"format": "wscheck-report/1"', "cannot be read as JSON"),
    ],
    ids=["deep-array", "deep-checks", "top-level-array", "future-format", "truncated"],
)
def test_unreadable_reports_are_one_line(here: Path, capsys: pytest.CaptureFixture[str],
                                         content: str, fragment: str) -> None:
    (here / "run.json").write_text(content, encoding="utf-8")
    assert_refused(*replay(capsys, "run.json", "echo.whitespace", "--app", "wsapps:app"),
                   fragment)


def test_a_hostile_file_as_report_is_one_line(here: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import os

    os.mkfifo(here / "fifo.json")
    (here / "dir.json").mkdir()
    for path, fragment in (("fifo.json", "it is a FIFO"), ("dir.json", "it is a directory"),
                           ("/dev/zero", "it is a character device")):
        assert_refused(*replay(capsys, path, "echo.whitespace", "--app", "wsapps:app"),
                       fragment)


# --- trust -----------------------------------------------------------------------------------

EVIL = """
from pathlib import Path

Path("imported.txt").write_text("the module named in the report was imported")

def factory():
    Path("called.txt").write_text("the factory named in the report was called")
"""


def test_replay_does_not_import_the_app_a_report_names(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "evil.py").write_text(EVIL, encoding="utf-8")
    for value in ("evil:factory()", "os:getcwd()"):
        path = write(here / "run.json", valid_report("app", value))
        status, out, err = replay(capsys, path, "echo.whitespace")
        assert_refused(status, out, err, "replay imports an app only when the command line "
                                         "names it: add --app MODULE:ATTR")
    assert not (here / "imported.txt").exists()
    assert not (here / "called.txt").exists()
    assert "evil" not in sys.modules


class _FakeRuntime:
    """Stands in for the runtime: records the settings replay chose, answers nothing."""

    seen: ClassVar[list[Any]] = []

    def __init__(self, settings: Any, app: Any) -> None:
        self.seen.append(settings)

    def ensure_up(self) -> None:
        raise TargetDown("nothing here (test double)")

    def close(self) -> None:
        pass


def test_replay_reads_no_file_a_report_names_and_prints_it_safely(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's CA bundle is a FIFO (reading it would block): replay never opens it, as
    it takes a CA bundle from ``--ca-file`` only. What the report says is printed escaped."""
    import os

    import wscheck.config.target

    os.mkfifo(here / "ca.pem")
    report = valid_report("url", "ws://127.0.0.1:9")
    report["settings"]["ca_file"] = str(here / "ca.pem")
    report["checks"][0]["problem"] = "trimmed \x1b[2J\x1b]0;pwned\x07 \u202etxt.exe"
    report["checks"][0]["observed"][1]["text"] = "\x1b[31mred\x9b2J"
    report["checks"][0]["conversation"]["query"] = [["q", "\x1b[1m"]]
    path = write(here / "run.json", report)
    _FakeRuntime.seen = []
    monkeypatch.setattr(wscheck.config.target, "Runtime", _FakeRuntime)
    status, out, err = replay(capsys, path, "echo.whitespace")
    assert status == 1, out + err
    assert "the target does not answer" in out
    assert [s.ca_file for s in _FakeRuntime.seen] == [None]
    assert [s.url for s in _FakeRuntime.seen] == ["ws://127.0.0.1:9"]
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in out + err
    assert "reported: trimmed \\x1b[2J\\x1b]0;pwned\\x07 \\u202etxt.exe" in out
