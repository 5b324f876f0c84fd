"""``wscheck replay REPORT.json CHECK_ID``: run a failing check's conversation again.

The report holds the conversation that showed the failure, the spec and the target. A report
is a file people share, so it is trusted for nothing: every value replay uses is type-checked
first (:func:`read_case`), an in-process app is imported only when ``--app`` names it, a CA
bundle is read only when ``--ca-file`` names it, and what the report says is printed clipped
with control characters escaped. Replay
runs that one conversation on the target (or on another one, ``--url`` / ``--app``), asks the
model for the expected transcript, prints both side by side and exits 1 if the transcript
still differs, 0 if it now conforms. For a network target :func:`httpx_ws_snippet` also
writes the conversation as a few lines of Python with httpx-ws, to paste anywhere.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

from wscheck.errors import ReplayError
from wscheck.events import (
    Accepted,
    Action,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Event,
    SendBytes,
    SendText,
    describe,
)
from wscheck.limits import MAX_REPORT_FILE_BYTES, read_regular_file
from wscheck.redaction import MASK, safe_line
from wscheck.render import render_conversation, side_by_side
from wscheck.report import FORMAT, VERDICTS, action_from_json, event_from_json
from wscheck.runner import Observation
from wscheck.settings import Given, Settings, resolve
from wscheck.spec import Spec, SpecError, spec_from_mapping

__all__ = ["ReplayCase", "ReplayError", "httpx_ws_snippet", "load_report", "read_case",
           "replay", "replay_command"]

#: Checks whose failure needs several clients at once: a single conversation replayed alone
#: may well conform.
CONCURRENT = frozenset({"isolation.concurrent", "prop.concurrent", "prop.stateful"})


def replay_command(report: str, check_id: str, *, url: str | None = None,
                   app: str | None = None) -> str:
    """The shell command that replays ``check_id`` from ``report``."""
    import shlex

    words = ["wscheck", "replay", report, check_id]
    if url:
        words += ["--url", url]
    elif app:
        words += ["--app", app]
    return " ".join(shlex.quote(w) for w in words)


def _ws_url(base: str, conversation: Conversation) -> str:
    url = base.rstrip("/") + conversation.path
    if conversation.query:
        url += "?" + urlencode(list(conversation.query))
    return url


def httpx_ws_snippet(base_url: str, conversation: Conversation, spec: Spec | None = None) -> str:
    """The conversation as a standalone Python script using httpx-ws (the client the kit
    itself uses). In lock-step it reads, after each message, as many events as ``spec``'s
    model predicts; then it prints every event until the server closes or goes quiet."""
    from wscheck.model import ModelConnection, UnspecifiedBehaviour

    model: ModelConnection | None = None
    if spec is not None and not conversation.pipelined:
        try:
            model = ModelConnection(spec, conversation)
            model.open()
        except UnspecifiedBehaviour:
            model = None
    headers = ""
    if conversation.cookies:
        cookie = "; ".join(f"{k}={v}" for k, v in conversation.cookies)
        headers = f", headers={{'Cookie': {cookie!r}}}"
    lines = [
        "# pip install httpx-ws",
        "import httpx_ws",
        "",
    ]
    if any(MASK in v for _k, v in (*conversation.query, *conversation.cookies)):
        lines.insert(1, "# credentials are masked (t•••): run with --wscheck-show-credentials "
                        "to see the values sent")
    lines += [
        f"with httpx_ws.connect_ws({_ws_url(base_url, conversation)!r}{headers}) as ws:",
    ]
    for action in conversation.actions:
        if isinstance(action, SendText):
            lines.append(f"    ws.send_text({action.text!r})")
        elif isinstance(action, SendBytes):
            lines.append(f"    ws.send_bytes({action.data!r})")
        elif isinstance(action, ClientClose):
            lines.append(f"    ws.close({action.code})")
            return "\n".join(lines)
        elif isinstance(action, Drop):
            lines.append("    ws.stream.close()  # drop: no closing handshake")
            return "\n".join(lines)
        replies = model.step(action) if model is not None else ()
        reads = sum(1 for r in replies if not isinstance(r, Closed))
        lines += ["    print(ws.receive(timeout=2))"] * reads
    lines += [
        "    try:  # everything else, until the server closes or is quiet for 2 s",
        "        while True:",
        "            print(ws.receive(timeout=2))",
        "    except Exception as exc:",
        "        print(type(exc).__name__, exc)",
    ]
    return "\n".join(lines)


# --- reading a report: trusted for nothing ------------------------------------------------

#: Longest wait a report may ask of a replay (``settings.timeout``); ``--timeout`` overrides.
MAX_REPORT_TIMEOUT = 60.0

_VERDICTS = frozenset(VERDICTS)


def _fail(path: str | Path, where: str, what: str) -> ReplayError:
    # ``where`` may hold a key the report chose: escaped like any text from the report.
    return ReplayError(safe_line(f"{path} is not a valid wscheck report: {where} {what} (see "
                                 "docs/report-schema.md)"))


class _Reader:
    """Type checks for the parts of a report that replay uses, following the report's JSON
    Schema (``docs/report-schema.md``): a report is a file people share and edit, so every
    value is checked before it is used, and a bad one is one line naming where it is."""

    def __init__(self, path: str | Path) -> None:
        self.path = path

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(self.path, where, "must be an object")
        return value

    def array(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(self.path, where, "must be an array")
        return value

    def string(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise _fail(self.path, where, "must be a string")
        return value

    def integer(self, value: object, where: str, *, null: bool = False) -> int | None:
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(self.path, where, "must be an integer" + (" or null" if null else ""))
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0):
            raise _fail(self.path, where, "must be a finite number, 0 or more")
        return float(value)

    def boolean(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise _fail(self.path, where, "must be a boolean")
        return value

    def b64(self, value: object, where: str) -> bytes:
        try:
            return base64.b64decode(self.string(value, where), validate=True)
        except binascii.Error:
            raise _fail(self.path, where, "must be base64") from None

    def fields(self, item: dict[str, Any], where: str, allowed: dict[str, str]) -> None:
        """``item`` has exactly the keys of ``allowed`` (key → kind) and ``type``."""
        for key in item:
            if key != "type" and key not in allowed:
                raise _fail(self.path, f"{where}.{key}", "is not a known field")
        for key, kind in allowed.items():
            if key not in item:
                raise _fail(self.path, f"{where}.{key}", "is missing")
            if kind == "str":
                self.string(item[key], f"{where}.{key}")
            elif kind == "bool":
                self.boolean(item[key], f"{where}.{key}")
            elif kind == "num":
                self.number(item[key], f"{where}.{key}")
            elif kind == "b64":
                self.b64(item[key], f"{where}.{key}")
            else:
                self.integer(item[key], f"{where}.{key}", null=kind == "int?")

    def typed(self, value: object, where: str, table: Mapping[str, Any],
              what: str) -> dict[str, Any]:
        """An object whose ``type`` is a key of ``table`` and whose fields are that row's."""
        item = self.obj(value, where)
        allowed = table.get(str(item.get("type")))
        if allowed is None:
            raise _fail(self.path, f"{where}.type", f"is not {what} type")
        self.fields(item, where, allowed)
        return item

    def event(self, value: object, where: str) -> Event:
        return event_from_json(self.typed(value, where, _EVENT_FIELDS, "an event"))

    def action(self, value: object, where: str) -> Action:
        item = self.typed(value, where, _ACTION_FIELDS, "an action")
        if item["type"] == "client_close" and not 1000 <= item["code"] <= 4999:
            raise _fail(self.path, f"{where}.code", "must be a close code (1000-4999)")
        return action_from_json(item)

    def pairs(self, value: object, where: str) -> tuple[tuple[str, str], ...]:
        out = []
        for i, pair in enumerate(self.array(value, where)):
            pair = self.array(pair, f"{where}[{i}]")
            if len(pair) != 2:
                raise _fail(self.path, f"{where}[{i}]", "must be a [name, value] pair")
            out.append((self.string(pair[0], f"{where}[{i}][0]"),
                        self.string(pair[1], f"{where}[{i}][1]")))
        return tuple(out)

    def conversation(self, value: object, where: str) -> Conversation:
        item = self.obj(value, where)
        for key in item:
            if key not in ("path", "query", "cookies", "pipelined", "actions"):
                raise _fail(self.path, f"{where}.{key}", "is not a known field")
        path = self.string(item.get("path"), f"{where}.path")
        if not path.startswith("/") or any(c in "?#" or not c.isprintable() or c.isspace()
                                           for c in path):
            raise _fail(self.path, f"{where}.path", "must be a path (from '/', no query, "
                        "space or control character)")
        cookies = self.pairs(item.get("cookies"), f"{where}.cookies")
        for name, text in cookies:
            if not name or not name.isprintable() or any(c in name for c in "=; \t") or any(
                    c in text for c in ";\r\n\0"):
                raise _fail(self.path, f"{where}.cookies", "must hold cookies that fit in a "
                            "Cookie header")
        actions = self.array(item.get("actions"), f"{where}.actions")
        return Conversation(
            path=path,
            actions=tuple(self.action(a, f"{where}.actions[{i}]") for i, a in enumerate(actions)),
            query=self.pairs(item.get("query"), f"{where}.query"),
            cookies=cookies,
            pipelined=self.boolean(item.get("pipelined"), f"{where}.pipelined"),
        )


_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "accepted": {}, "app_exited": {},
    "text": {"text": "str"},
    "binary": {"base64": "b64", "size": "int"},
    "closed": {"code": "int", "reason": "str"},
    "refused": {"status": "int?", "close_code": "int?"},
    "silence": {"seconds": "num"},
    "app_crashed": {"exception": "str"},
    "protocol_violation": {"problem": "str"},
    "transport_error": {"problem": "str"},
}
_ACTION_FIELDS: dict[str, dict[str, str]] = {
    "send_text": {"text": "str"},
    "send_bytes": {"base64": "b64", "size": "int"},
    "client_close": {"code": "int"},
    "drop": {"in_flight": "bool"},
}


@dataclass(frozen=True)
class ReplayCase:
    """What replay takes from a report, every value checked."""

    check_id: str
    level: str
    verdict: str
    problem: str | None
    spec: Spec
    conversation: Conversation | None
    expected: tuple[Event, ...]
    observed: tuple[Event, ...]
    first_difference: int | None
    target_kind: str
    target: str
    timeout: float
    quiet_window: float


def load_report(path: str | Path) -> dict[str, Any]:
    """The report's top-level object, read within bounds (a regular file of at most
    :data:`~wscheck.limits.MAX_REPORT_FILE_BYTES`; JSON nested too deep for the parser is
    one line, not a traceback)."""
    text = read_regular_file(path, "report", MAX_REPORT_FILE_BYTES, ReplayError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"report {path} cannot be read as JSON: {exc}") from None
    except RecursionError:
        raise ReplayError(f"report {path} cannot be read as JSON: it nests too deep") from None
    if not isinstance(data, dict) or not isinstance(data.get("format"), str) or not (
            data["format"].startswith("wscheck-report/")):
        raise ReplayError(f"{path} is not a wscheck report (no format 'wscheck-report/…')")
    if data["format"] != FORMAT:
        raise ReplayError(f"{path} is a {safe_line(data['format'], 40)} report; this wscheck "
                          f"reads {FORMAT}")
    return data


def read_case(path: str | Path, check_id: str) -> ReplayCase:
    """The check ``check_id`` of the report at ``path`` with everything replay needs, or a
    one-line :class:`ReplayError`: missing or malformed fields, an unknown id."""
    report = load_report(path)
    r = _Reader(path)
    target = r.obj(report.get("target"), "target")
    kind = r.string(target.get("kind"), "target.kind")
    if kind not in ("app", "url"):
        raise _fail(path, "target.kind", "must be 'app' or 'url'")
    value = r.string(target.get("value"), "target.value")
    settings = r.obj(report.get("settings"), "settings")
    timeout = r.number(settings.get("timeout"), "settings.timeout")
    quiet = r.number(settings.get("quiet_window"), "settings.quiet_window")
    spec_data = r.obj(r.obj(report.get("spec"), "spec").get("data"), "spec.data")
    records = r.array(report.get("checks"), "checks")
    found: tuple[int, dict[str, Any]] | None = None
    for i, item in enumerate(records):
        record = r.obj(item, f"checks[{i}]")
        if r.string(record.get("id"), f"checks[{i}].id") == check_id:
            found = (i, record)
            break
    if found is None:
        ids = ", ".join(safe_line(str(x.get("id")), 60) for x in records
                        if isinstance(x, dict) and _replayable(x)) or "none"
        raise ReplayError(f"{path} has no check {safe_line(repr(check_id), 80)} (failures "
                          f"that can be replayed: {ids})")
    i, record = found
    where = f"checks[{i}]"
    verdict = r.string(record.get("verdict"), f"{where}.verdict")
    if verdict not in _VERDICTS:
        raise _fail(path, f"{where}.verdict", "is not a verdict")
    level = r.string(record.get("level"), f"{where}.level")
    if level not in ("MUST", "SHOULD"):
        raise _fail(path, f"{where}.level", "must be MUST or SHOULD")
    problem = record.get("problem")
    if problem is not None:
        r.string(problem, f"{where}.problem")
    conversation = (None if record.get("conversation") is None else
                    r.conversation(record["conversation"], f"{where}.conversation"))
    expected = tuple(r.event(e, f"{where}.expected[{j}]")
                     for j, e in enumerate(r.array(record.get("expected"), f"{where}.expected")))
    observed = tuple(r.event(e, f"{where}.observed[{j}]")
                     for j, e in enumerate(r.array(record.get("observed"), f"{where}.observed")))
    diff = r.integer(record.get("first_difference"), f"{where}.first_difference", null=True)
    try:
        spec = spec_from_mapping(spec_data, f"{path} (spec)")
    except SpecError as exc:
        raise ReplayError(safe_line(str(exc))) from None
    return ReplayCase(check_id, level, verdict, problem, spec, conversation, expected,
                      observed, diff, kind, value, timeout, quiet)


def _replayable(record: Mapping[str, Any]) -> bool:
    """A failure with a conversation. Passing checks keep theirs in the report as evidence,
    but replay is for reproducing what went wrong."""
    return bool(record.get("conversation")) and record.get("verdict") not in (
        "pass", "xpass", "inconclusive")


def _unmask(conversation: Conversation) -> tuple[Conversation, bool]:
    """Stand-in values for credentials the report masked; whether there were any."""
    stand_ins: dict[str, str] = {}

    def fix(value: str) -> str:
        if MASK not in value:
            return value
        return stand_ins.setdefault(value, f"replay{len(stand_ins) + 1}")

    query = tuple((k, fix(v)) for k, v in conversation.query)
    cookies = tuple((k, fix(v)) for k, v in conversation.cookies)
    return (Conversation(conversation.path, conversation.actions, query, cookies,
                         conversation.pipelined), bool(stand_ins))


def conforms(spec: Spec, obs: Observation) -> bool:
    """Whether a replayed transcript is what the protocol says. A refusal in its wire form
    (a close before accept, HTTP 403 on the network) conforms too, as in ``auth.missing``."""
    if obs.ok and obs.aftermath is None:
        return True
    if spec.auth is not None and obs.aftermath is None:
        from wscheck.judging import refusal_form

        code = spec.auth.denied_close_code
        return obs.expected == (Accepted(), Closed(code)) and refusal_form(
            obs, code) == "before-accept"
    return False


def _settings(case: ReplayCase, report_path: str | Path, *, url: str | None,
              app: str | None, timeout: float | str | None, ca_file: str | None) -> Settings:
    """The replay's settings: the report's timeout and quiet window, overridden by the flags
    given, all checked as a run's are; a bad value is named by its flag or by its field in
    the report. The target and the CA bundle never come from an in-process report: a report
    is shared and edited like any file, and importing the module it names (or reading the
    file it names) would run or read what nobody chose."""
    given: dict[str, Given] = {}
    if url:
        given["url"] = Given(url, "--url")
    if app:
        given["app"] = Given(app, "--app")
    if not (url or app):
        if case.target_kind == "app":
            raise ReplayError(
                f"{report_path} was written for the in-process app "
                f"{safe_line(repr(case.target), 200)}; replay imports an app only when the "
                "command line names it: add --app MODULE:ATTR (or --url ws://HOST:PORT)")
        given["url"] = Given(case.target, f"target.value of {report_path}")
    if timeout is not None:
        given["timeout"] = Given(timeout, "--timeout")
    elif case.timeout > MAX_REPORT_TIMEOUT:  # a hand-edited report must not stall replay
        raise ReplayError(f"{report_path}: settings.timeout {case.timeout:g} is more than "
                          f"{MAX_REPORT_TIMEOUT:g} seconds: give --timeout SECONDS")
    else:
        given["timeout"] = Given(case.timeout, f"settings.timeout of {report_path}")
    given["quiet_window"] = Given(case.quiet_window or None,
                                  f"settings.quiet_window of {report_path}")
    if ca_file is not None:
        given["ca_file"] = Given(ca_file, "--ca-file")
    settings = resolve(given, rootdir=Path.cwd(), interface="run", spec=case.spec)
    if settings.quiet_window > settings.timeout:  # a window longer than any wait means nothing
        settings = dataclasses.replace(settings, quiet_window=settings.timeout)
    return settings


def replay(report_path: str | Path, check_id: str, *, url: str | None = None,
           app: str | None = None, timeout: float | str | None = None,
           ca_file: str | None = None, out: TextIO | None = None) -> int:
    """Run the check's conversation from the report again; 1 if it still fails, 0 if it
    conforms now. Raises :class:`ReplayError` for a report or id that cannot be replayed, and
    a usage error for a bad flag (both exit 4)."""
    from wscheck.target import Runtime, TargetDown, load_app

    out = out if out is not None else sys.stdout  # looked up now: pytest swaps it
    case = read_case(report_path, check_id)
    if case.conversation is None or case.verdict in ("pass", "xpass", "inconclusive"):
        raise ReplayError(
            f"{check_id} is not a failure with a conversation in {report_path} (verdict "
            f"{case.verdict}): only failures that observed a transcript can be replayed")
    spec = case.spec
    conversation, stand_ins = _unmask(case.conversation)
    settings = _settings(case, report_path, url=url, app=app, timeout=timeout,
                         ca_file=ca_file)
    loaded = load_app(settings.app) if settings.app else None

    print(f"replaying {check_id} [{case.level}] on {safe_line(settings.target, 200)}",
          file=out)
    if case.problem:
        print(f"reported: {safe_line(case.problem)}", file=out)
    if stand_ins:
        print("note: the report masks credentials; stand-in values are used (write the "
              "report with --show-credentials, or --wscheck-show-credentials under pytest, to "
              "replay the exact ones)", file=out)
    if check_id in CONCURRENT:
        print("note: this check failed with several clients at once; the conversation is "
              "replayed alone and may conform alone", file=out)
    print("", file=out)
    print("conversation:", file=out)
    print(render_conversation(conversation), file=out)
    print("", file=out)
    if case.expected or case.observed:
        print("in the report:", file=out)
        print(side_by_side(case.expected, case.observed), file=out)
        print("", file=out)

    runtime = Runtime(settings, loaded)
    try:
        runtime.ensure_up()
        obs = runtime.call(runtime.run, conversation)
    except TargetDown as exc:
        print(f"the target does not answer: {safe_line(str(exc))}", file=out)
        return 1
    finally:
        runtime.close()
    print("now:", file=out)
    print(side_by_side(obs.expected, obs.observed), file=out)
    if obs.aftermath is not None:
        print("after the conversation, on the server side: " + describe(obs.aftermath),
              file=out)
    print("", file=out)
    if conforms(spec, obs):
        print(f"{check_id}: the conversation now conforms", file=out)
        return 0
    print(f"{check_id}: still fails", file=out)
    if settings.url:
        print("\nthe same conversation with httpx-ws:\n"
              + httpx_ws_snippet(settings.url, conversation, spec), file=out)
    return 1
