"""Run reports: a JSON document (the schema is in ``docs/report-schema.md``) and one
self-contained HTML page rendered from it.

The plugin turns each check's verdict into a *record* (:func:`check_record`) while the check
runs, as plain JSON values, so that it travels from a pytest-xdist worker to the controller
inside the test report; the controller adds the pytest outcome and duration and writes the
files at the end of the session (:func:`build_report`, :func:`write_reports`).

Events and actions become JSON objects with a ``type`` field (``{"type": "text", "text":
"hi"}``) and come back with :func:`event_from_json` / :func:`conversation_from_json`, which is
what ``wscheck replay`` uses. Credentials — the token query value and cookie values — are
masked (``t•••``) everywhere in a record unless the run shows them.
"""

from __future__ import annotations

import base64
import html
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wscheck.events import (
    Accepted,
    Action,
    AppCrashed,
    AppExited,
    Binary,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Event,
    ProtocolViolation,
    Refused,
    SendBytes,
    SendText,
    Silence,
    Text,
    TransportError,
    describe,
)
from wscheck.render import first_difference, render_conversation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from wscheck.checks import Check, Verdict
    from wscheck.spec import Spec
    from wscheck.target import Settings

__all__ = [
    "FORMAT",
    "VERDICTS",
    "action_from_json",
    "action_to_json",
    "build_report",
    "check_record",
    "conversation_from_json",
    "conversation_to_json",
    "event_from_json",
    "event_to_json",
    "mask",
    "render_html",
    "write_reports",
]

#: The ``format`` field of every report; bumped when a field changes meaning.
FORMAT = "wscheck-report/1"

#: Every verdict a check can get in a report, in summary order.
VERDICTS = ("pass", "fail", "warn", "inconclusive", "xfail", "xpass", "error", "skip")

JSON = Any


# --- events, actions and conversations as JSON ----------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def event_to_json(event: Event) -> dict[str, JSON]:
    """One event as a JSON object with a ``type`` field."""
    match event:
        case Accepted():
            return {"type": "accepted"}
        case Text(text):
            return {"type": "text", "text": text}
        case Binary(data):
            return {"type": "binary", "base64": _b64(data), "size": len(data)}
        case Closed(code, reason):
            return {"type": "closed", "code": code, "reason": reason}
        case Refused(status, close_code):
            return {"type": "refused", "status": status, "close_code": close_code}
        case Silence(seconds):
            return {"type": "silence", "seconds": seconds}
        case AppCrashed(exception):
            return {"type": "app_crashed", "exception": exception}
        case AppExited():
            return {"type": "app_exited"}
        case ProtocolViolation(problem):
            return {"type": "protocol_violation", "problem": problem}
        case TransportError(problem):
            return {"type": "transport_error", "problem": problem}
    raise TypeError(f"not an event: {event!r}")  # pragma: no cover


def event_from_json(data: Mapping[str, JSON]) -> Event:
    """The inverse of :func:`event_to_json`."""
    kind = data.get("type")
    if kind == "accepted":
        return Accepted()
    if kind == "text":
        return Text(str(data["text"]))
    if kind == "binary":
        return Binary(base64.b64decode(data["base64"]))
    if kind == "closed":
        return Closed(int(data["code"]), str(data.get("reason", "")))
    if kind == "refused":
        return Refused(data.get("status"), data.get("close_code"))
    if kind == "silence":
        return Silence(float(data.get("seconds", 0.0)))
    if kind == "app_crashed":
        return AppCrashed(str(data["exception"]))
    if kind == "app_exited":
        return AppExited()
    if kind == "protocol_violation":
        return ProtocolViolation(str(data["problem"]))
    if kind == "transport_error":
        return TransportError(str(data["problem"]))
    raise ValueError(f"unknown event type {kind!r}")


def action_to_json(action: Action) -> dict[str, JSON]:
    """One client action as a JSON object with a ``type`` field."""
    match action:
        case SendText(text):
            return {"type": "send_text", "text": text}
        case SendBytes(data):
            return {"type": "send_bytes", "base64": _b64(data), "size": len(data)}
        case ClientClose(code):
            return {"type": "client_close", "code": code}
        case Drop(in_flight):
            return {"type": "drop", "in_flight": in_flight}
    raise TypeError(f"not an action: {action!r}")  # pragma: no cover


def action_from_json(data: Mapping[str, JSON]) -> Action:
    """The inverse of :func:`action_to_json`."""
    kind = data.get("type")
    if kind == "send_text":
        return SendText(str(data["text"]))
    if kind == "send_bytes":
        return SendBytes(base64.b64decode(data["base64"]))
    if kind == "client_close":
        return ClientClose(int(data.get("code", 1000)))
    if kind == "drop":
        return Drop(bool(data.get("in_flight", False)))
    raise ValueError(f"unknown action type {kind!r}")


def conversation_to_json(conversation: Conversation) -> dict[str, JSON]:
    return {
        "path": conversation.path,
        "query": [[k, v] for k, v in conversation.query],
        "cookies": [[k, v] for k, v in conversation.cookies],
        "pipelined": conversation.pipelined,
        "actions": [action_to_json(a) for a in conversation.actions],
    }


def conversation_from_json(data: Mapping[str, JSON]) -> Conversation:
    """The inverse of :func:`conversation_to_json`."""
    return Conversation(
        path=str(data["path"]),
        actions=tuple(action_from_json(a) for a in data.get("actions", ())),
        query=tuple((str(k), str(v)) for k, v in data.get("query", ())),
        cookies=tuple((str(k), str(v)) for k, v in data.get("cookies", ())),
        pipelined=bool(data.get("pipelined", False)),
    )


# --- credentials ---------------------------------------------------------------------------

MASK = "•••"


def mask(value: str) -> str:
    """``"tok123"`` → ``"t•••"``; the empty value stays empty (the protocol tells empty from
    absent, so that difference is kept)."""
    return value[:1] + MASK if value else ""


class _Masker:
    """Masks the credentials of one conversation wherever they show up in its record."""

    def __init__(self, spec: Spec, conversation: Conversation) -> None:
        self._spec = spec
        secrets: list[str] = []
        token = spec.auth.token if spec.auth is not None else None
        for key, value in conversation.query:
            if key == token and value not in secrets:
                secrets.append(value)
        for _key, value in conversation.cookies:
            if value not in secrets:
                secrets.append(value)
        self.masks: dict[str, str] = {}
        used: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            shown, n = mask(secret), 1
            while shown in used:  # two credentials with one first letter stay told apart
                n += 1
                shown = f"{mask(secret)}{n}"
            used.add(shown)
            self.masks[secret] = shown

    def text(self, text: str) -> str:
        auth = self._spec.auth
        if auth is not None:
            for secret, shown in self.masks.items():
                try:
                    line = auth.render(auth.credential_reply, credential=secret)
                except (KeyError, IndexError, ValueError):  # pragma: no cover - spec checked
                    break
                if text == line:
                    return auth.render(auth.credential_reply, credential=shown)
        # Elsewhere only values long enough not to hit ordinary words by chance.
        for secret in sorted(self.masks, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, self.masks[secret])
        return text

    def conversation(self, conversation: Conversation) -> Conversation:
        token = self._spec.auth.token if self._spec.auth is not None else None
        return Conversation(
            conversation.path,
            conversation.actions,
            tuple((k, self.masks.get(v, v) if k == token else v) for k, v in conversation.query),
            tuple((k, self.masks.get(v, v)) for k, v in conversation.cookies),
            conversation.pipelined,
        )

    def event(self, event: Event) -> Event:
        return Text(self.text(event.text)) if isinstance(event, Text) else event


def _no_mask(text: str) -> str:
    return text


# --- records -------------------------------------------------------------------------------


def check_record(
    check: Check, outcome: str, verdict: Verdict | None, spec: Spec, *,
    show_credentials: bool = False, replay: str | None = None,
) -> dict[str, JSON]:
    """What one check found, as JSON values: its verdict's problem and notes, the
    conversation and both transcripts (credentials masked unless ``show_credentials``).

    ``outcome`` is the check's own word (``pass``, ``fail``, ``warn``, ``not applicable``);
    the report's verdict is settled later from the pytest outcome (xfail, error, ...).
    """
    record: dict[str, JSON] = {
        "outcome": outcome,
        "problem": None,
        "inconclusive": None,
        "unconcluded": None,
        "notes": [],
        "conversation": None,
        "expected": [],
        "observed": [],
        "first_difference": None,
        "aftermath": None,
        "replay": replay,
    }
    if verdict is None:
        return record
    obs = verdict.observation
    text: Callable[[str], str] = _no_mask
    if obs is not None:
        masker = None if show_credentials else _Masker(spec, obs.conversation)
        conversation = obs.conversation
        expected, observed = obs.expected, obs.observed
        if masker is not None:
            text = masker.text
            conversation = masker.conversation(conversation)
            expected = tuple(masker.event(e) for e in expected)
            observed = tuple(masker.event(e) for e in observed)
        record.update(
            conversation=conversation_to_json(conversation),
            expected=[event_to_json(e) for e in expected],
            observed=[event_to_json(e) for e in observed],
            # Computed before masking: two masked texts may look alike and still differ.
            first_difference=first_difference(obs.expected, obs.observed),
            aftermath=event_to_json(obs.aftermath) if obs.aftermath is not None else None,
        )
    record["problem"] = text(verdict.problem) if verdict.problem is not None else None
    record["notes"] = [text(n) for n in verdict.notes]
    if verdict.is_inconclusive and verdict.inconclusive is not None:
        record["inconclusive"] = text(verdict.inconclusive)
        record["unconcluded"] = verdict.unconcluded
    return record


def _kit_version() -> str:
    try:
        from importlib.metadata import version

        return version("wscheck")
    except Exception:  # pragma: no cover - not installed (a checkout on sys.path)
        from wscheck import __version__

        return __version__


def spec_json(spec: Spec) -> dict[str, JSON]:
    """The spec in a report: its digest, its TOML text and the same as a JSON object (the
    TOML document's tables, which :func:`wscheck.spec.spec_from_mapping` reads back)."""
    toml = spec.to_toml()
    return {"digest": spec.digest(), "toml": toml, "data": tomllib.loads(toml)}


def build_report(
    settings: Settings,
    checks: Sequence[Mapping[str, JSON]],
    *,
    exit_status: int | None,
    show_credentials: bool,
    expected_failures: Iterable[str] = (),
    started: datetime | None = None,
) -> dict[str, JSON]:
    """The whole report document (see ``docs/report-schema.md``)."""
    summary = dict.fromkeys(VERDICTS, 0)
    for c in checks:
        summary[c["verdict"]] = summary.get(c["verdict"], 0) + 1
    return {
        "format": FORMAT,
        "kit": {"name": "wscheck", "version": _kit_version()},
        "timestamp": (started or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "target": {"kind": "app" if settings.app else "url", "value": settings.target},
        "spec": spec_json(settings.spec),
        "settings": {
            "timeout": settings.timeout,
            "quiet_window": settings.quiet_window,
            "examples": settings.examples,
            "strict": settings.strict,
            "ca_file": settings.ca_file,
            "credentials_shown": show_credentials,
            "expected_failures": sorted(expected_failures),
        },
        "exit_status": exit_status,
        "summary": summary,
        "checks": list(checks),
    }


def write_reports(report: Mapping[str, JSON], json_path: str | None,
                  html_path: str | None) -> list[str]:
    """Write the JSON and/or HTML files (parent directories are created); their paths."""
    written = []
    for path, kind in ((json_path, "json"), (html_path, "html")):
        if not path:
            continue
        content = (json.dumps(report, ensure_ascii=False, indent=2) + "\n" if kind == "json"
                   else render_html(report))
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(target)
        written.append(str(target))
    return written


# --- HTML ------------------------------------------------------------------------------------

_COLOURS = {
    "pass": "#1a7f37", "fail": "#cf222e", "warn": "#bf8700", "xfail": "#8250df",
    "xpass": "#cf222e", "error": "#a40e26", "skip": "#6e7781", "inconclusive": "#0969da",
}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:3px 8px;
vertical-align:top;text-align:left}th{background:#f6f8fa}
.meta td:first-child{font-weight:600}
.v{color:#fff;font-weight:600;text-align:center;border-radius:3px;padding:1px 8px}
pre,code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{white-space:pre-wrap;word-break:break-all;margin:4px 0}
section.check{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;margin:14px 0}
.tx td{white-space:pre-wrap;word-break:break-all;max-width:46em}
tr.diff td{background:#ffebe9}tr.diff td.n::before{content:"\\00bb\\00a0"}
.n{color:#6e7781;text-align:right}
.dur{text-align:right}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _verdict_badge(verdict: str) -> str:
    colour = _COLOURS.get(verdict, "#6e7781")
    return f'<span class="v" style="background:{colour}">{_e(verdict)}</span>'


def _describe_json(item: Mapping[str, JSON], *, action: bool = False) -> str:
    try:
        return describe(action_from_json(item) if action else event_from_json(item))
    except (KeyError, ValueError, TypeError):
        return json.dumps(item, ensure_ascii=False)


def _transcripts_html(check: Mapping[str, JSON]) -> str:
    expected, observed = check.get("expected") or [], check.get("observed") or []
    diff = check.get("first_difference")
    rows = []
    for i in range(max(len(expected), len(observed))):
        a = _describe_json(expected[i]) if i < len(expected) else "—"
        b = _describe_json(observed[i]) if i < len(observed) else "—"
        cls = ' class="diff"' if i == diff else ""
        rows.append(f'<tr{cls}><td class="n">{i}</td><td>{_e(a)}</td><td>{_e(b)}</td></tr>')
    return ('<table class="tx mono"><tr><th></th><th>expected</th><th>observed</th></tr>'
            + "".join(rows) + "</table>")


def render_html(report: Mapping[str, JSON]) -> str:
    """One self-contained page: a summary table and, per check, its conversation and the
    expected and observed transcripts side by side with the first difference marked. Every
    value from the run is escaped; nothing is fetched from anywhere."""
    checks = report.get("checks", [])
    target, spec = report.get("target", {}), report.get("spec", {})
    summary = report.get("summary", {})
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'style-src \'unsafe-inline\'">',
        f"<title>wscheck report: {_e(target.get('value', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>wscheck report — {_e(target.get('value', ''))}</h1>",
        '<table class="meta">',
        f"<tr><td>target</td><td>{_e(target.get('kind', ''))}: "
        f"<code>{_e(target.get('value', ''))}</code></td></tr>",
        f"<tr><td>spec</td><td><code>{_e(spec.get('digest', ''))}</code></td></tr>",
        f"<tr><td>kit</td><td>wscheck {_e(report.get('kit', {}).get('version', ''))}</td></tr>",
        f"<tr><td>run</td><td>{_e(report.get('timestamp', ''))}</td></tr>",
        "<tr><td>summary</td><td>" + " ".join(
            f"{_verdict_badge(k)} {_e(v)}" for k, v in summary.items() if v) + "</td></tr>",
        "</table>",
        "<h2>Checks</h2>",
        '<table class="summary"><tr><th>id</th><th>level</th><th>verdict</th>'
        "<th>duration</th><th>protocol</th><th>description</th></tr>",
    ]
    for c in checks:
        anchor = "check-" + _e(c.get("id", ""))
        out.append(
            f'<tr><td><a href="#{anchor}"><code>{_e(c.get("id"))}</code></a></td>'
            f"<td>{_e(c.get('level'))}</td><td>{_verdict_badge(str(c.get('verdict')))}</td>"
            f'<td class="dur">{float(c.get("duration") or 0):.3f}s</td>'
            f"<td>{_e(c.get('line'))}</td><td>{_e(c.get('description'))}</td></tr>")
    out.append("</table>")
    for c in checks:
        if c.get("verdict") == "pass" and not c.get("notes"):
            continue
        anchor = "check-" + _e(c.get("id", ""))
        out.append(f'<section class="check" id="{anchor}">')
        out.append(f"<h2>{_verdict_badge(str(c.get('verdict')))} <code>{_e(c.get('id'))}"
                   f"</code> [{_e(c.get('level'))}]</h2>")
        out.append(f"<p>protocol {_e(c.get('line'))}: {_e(c.get('description'))}</p>")
        if c.get("problem"):
            out.append(f"<p><strong>{_e(c['problem'])}</strong></p>")
        if c.get("inconclusive"):
            out.append(f"<p><strong>inconclusive ({_e(c.get('unconcluded'))}): "
                       f"{_e(c['inconclusive'])}</strong></p>")
        if c.get("message"):
            out.append(f"<pre>{_e(c['message'])}</pre>")
        conversation = c.get("conversation")
        if conversation:
            try:
                shown = render_conversation(conversation_from_json(conversation))
            except (KeyError, ValueError, TypeError):
                shown = json.dumps(conversation, ensure_ascii=False)
            out.append(f"<p>conversation:</p><pre>{_e(shown)}</pre>")
            out.append(_transcripts_html(c))
        if c.get("aftermath"):
            out.append("<p>after the conversation, on the server side: "
                       f"<code>{_e(_describe_json(c['aftermath']))}</code></p>")
        for note in c.get("notes") or []:
            out.append(f"<pre>{_e(note)}</pre>")
        if c.get("replay"):
            out.append(f"<p>replay:</p><pre>{_e(c['replay'])}</pre>")
        out.append("</section>")
    out.append("</body></html>\n")
    return "\n".join(out)
