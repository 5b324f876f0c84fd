"""Reading a report back, trusted for nothing: every field ``wscheck replay`` uses is
checked against the report's schema (``docs/report-schema.md``) before it is used.

A report is an artifact people share and edit; a malformed one is one line naming the field
(:class:`~wscheck.errors.ReplayError`, exit 4), never a traceback, and nothing in it decides
what is imported or read.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wscheck.core.api import api_from_json
from wscheck.core.codec import action_from_json, event_from_json, query_pair_from_json
from wscheck.core.events import SPELLINGS, Action, Conversation, Event
from wscheck.core.limits import MAX_REPORT_FILE_BYTES, read_regular_file
from wscheck.core.spec import Spec, SpecError, spec_from_mapping
from wscheck.errors import ReplayError
from wscheck.reporting.json_report import FORMAT, VERDICTS
from wscheck.reporting.redaction import safe_line
from wscheck.run.registry import Outcome

__all__ = ["MAX_REPORT_TIMEOUT", "NOT_REPLAYED", "ReplayCase", "load_report", "read_case"]

# --- reading a report: trusted for nothing ------------------------------------------------

#: Longest wait a report may ask of a replay (``settings.timeout``); ``--timeout`` overrides.
MAX_REPORT_TIMEOUT = 60.0

_VERDICTS = frozenset(VERDICTS)

#: The verdicts of checks that are not replayed: a check that did not go wrong keeps its
#: conversation in the report as evidence, but replay is for reproducing what went wrong.
NOT_REPLAYED = (Outcome.PASS, Outcome.XPASS, Outcome.INCONCLUSIVE)


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
            if key not in ("path", "query", "cookies", "pipelined", "origin", "actions"):
                raise _fail(self.path, f"{where}.{key}", "is not a known field")
        path = self.string(item.get("path"), f"{where}.path")
        if not path.startswith("/") or any(c in "?#" or not c.isprintable() or c.isspace()
                                           for c in path):
            raise _fail(self.path, f"{where}.path", "must be a path (from '/', no query, "
                        "space or control character)")
        cookies = self.pairs(item.get("cookies"), f"{where}.cookies")
        for name, text in cookies:
            if not name.isprintable() or any(c in name for c in "=; \t") or any(
                    c in text for c in ";\r\n\0") or (not name and "=" in text):
                raise _fail(self.path, f"{where}.cookies", "must hold cookies that fit in a "
                            "Cookie header")
        actions = self.array(item.get("actions"), f"{where}.actions")
        return Conversation(
            path=path,
            actions=tuple(self.action(a, f"{where}.actions[{i}]") for i, a in enumerate(actions)),
            query=self.query(item.get("query"), f"{where}.query"),
            cookies=cookies,
            pipelined=self.boolean(item.get("pipelined"), f"{where}.pipelined"),
            # Reports written before the field existed never sent an Origin.
            origin=("origin" in item
                    and self.boolean(item["origin"], f"{where}.origin")),
        )

    def query(self, value: object, where: str) -> tuple[tuple[str, str], ...]:
        """Query pairs: ``[name, value]``, or ``[name, value, spelling]`` when the value's
        spaces were spelled ``+`` or ``%20`` on purpose (see :mod:`wscheck.core.codec`)."""
        out = []
        for i, pair in enumerate(self.array(value, where)):
            pair = self.array(pair, f"{where}[{i}]")
            if len(pair) not in (2, 3):
                raise _fail(self.path, f"{where}[{i}]", "must be a [name, value] pair, or "
                            "[name, value, spelling]")
            strings = [self.string(p, f"{where}[{i}][{j}]") for j, p in enumerate(pair)]
            if len(strings) == 3 and strings[2] not in SPELLINGS:
                raise _fail(self.path, f"{where}[{i}][2]", "must be '+', '%20' or 'bare' "
                            "(how the value's spaces are spelled, or no '=' at all)")
            if len(strings) == 3 and strings[2] == "bare" and strings[1]:
                raise _fail(self.path, f"{where}[{i}][1]", "must be empty when spelled bare")
            out.append(query_pair_from_json(strings))
        return tuple(out)


_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "accepted": {}, "app_exited": {},
    "text": {"text": "str"},
    "binary": {"base64": "b64", "size": "int"},
    "closed": {"code": "int", "reason": "str"},
    "refused": {"status": "int?", "close_code": "int?"},
    "silence": {"seconds": "num"},
    "app_crashed": {"exception": "str"},
    "app_logged": {"level": "str", "logger": "str", "message": "str"},
    "protocol_violation": {"problem": "str"},
    "transport_error": {"problem": "str"},
    "flooded": {"messages": "int", "size": "int"},
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
    verdict: Outcome
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
    :data:`~wscheck.core.limits.MAX_REPORT_FILE_BYTES`; JSON nested too deep for the parser is
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
    spec_object = r.obj(report.get("spec"), "spec")
    spec_data = r.obj(spec_object.get("data"), "spec.data")
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
    word = r.string(record.get("verdict"), f"{where}.verdict")
    if word not in _VERDICTS:
        raise _fail(path, f"{where}.verdict", "is not a verdict")
    verdict = Outcome(word)
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
        if spec_object.get("api") is not None:
            spec = dataclasses.replace(spec, api=api_from_json(spec_object["api"],
                                                              f"{path}: spec.api"))
    except (SpecError, ValueError) as exc:
        raise ReplayError(safe_line(str(exc))) from None
    return ReplayCase(check_id, level, verdict, problem, spec, conversation, expected,
                      observed, diff, kind, value, timeout, quiet)


def _replayable(record: Mapping[str, Any]) -> bool:
    """A failure with a conversation. Passing checks keep theirs in the report as evidence,
    but replay is for reproducing what went wrong."""
    return bool(record.get("conversation")) and record.get("verdict") not in NOT_REPLAYED


