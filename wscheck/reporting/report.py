"""Run reports: a JSON document (the schema is in ``docs/report-schema.md``) and one
self-contained HTML page rendered from it.

The plugin turns each check's verdict into a *record* (:func:`check_record`) while the check
runs, as plain JSON values, so that it travels from a pytest-xdist worker to the controller
inside the test report; the controller adds the pytest outcome and duration and writes the
files at the end of the session (:func:`build_report`, :func:`write_reports`).

Events and actions are JSON objects with a ``type`` field (:mod:`wscheck.core.codec`, re-exported
here). Credentials — the token query value and cookie values — are masked (``t•••``)
everywhere in a record unless the run shows them (:mod:`wscheck.reporting.redaction`), and texts the
target sent are clipped (:mod:`wscheck.core.limits`).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wscheck.core.codec import (
    action_from_json,
    action_to_json,
    conversation_from_json,
    conversation_to_json,
    event_from_json,
    event_to_json,
)
from wscheck.core.events import describe
from wscheck.core.limits import (
    CLIP_BYTES,
    MAX_MESSAGE_LENGTH,
    check_report_path,
    clip,
    printable,
)
from wscheck.core.render import first_difference, render_conversation
from wscheck.reporting.redaction import MASK, mask, redact_verdict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from wscheck.config.target import Settings
    from wscheck.core.spec import Spec
    from wscheck.run.registry import Check, Verdict

__all__ = [
    "FORMAT",
    "MASK",
    "VERDICTS",
    "action_from_json",
    "action_to_json",
    "build_report",
    "check_record",
    "clip_json",
    "conversation_from_json",
    "conversation_to_json",
    "event_from_json",
    "event_to_json",
    "mask",
    "render_html",
    "report_json",
    "write_reports",
]

#: The ``format`` field of every report; bumped when a field changes meaning.
FORMAT = "wscheck-report/1"

#: Every verdict a check can get in a report, in summary order.
VERDICTS = ("pass", "fail", "warn", "inconclusive", "xfail", "xpass", "error", "skip")

JSON = Any


# --- records -------------------------------------------------------------------------------


def check_record(
    check: Check, outcome: str, verdict: Verdict | None, spec: Spec, *,
    show_credentials: bool = False, replay: str | None = None,
) -> dict[str, JSON]:
    """What one check found, as JSON values: its verdict's problem and notes, the
    conversation and both transcripts (credentials masked unless ``show_credentials``, texts
    the target sent clipped, see :func:`clip_json`).

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
    raw = verdict.observation
    shown = redact_verdict(verdict, spec, show_credentials=show_credentials)
    obs = shown.observation
    if raw is not None and obs is not None:
        record.update(
            conversation=conversation_to_json(obs.conversation),
            expected=[clip_json(event_to_json(e)) for e in obs.expected],
            observed=[clip_json(event_to_json(e)) for e in obs.observed],
            # Computed before masking: two masked texts may look alike and still differ.
            first_difference=first_difference(raw.expected, raw.observed),
            aftermath=(clip_json(event_to_json(obs.aftermath)) if obs.aftermath is not None
                       else None),
        )
    record["problem"] = shown.problem
    record["notes"] = list(shown.notes)
    if shown.is_inconclusive and shown.inconclusive is not None:
        record["inconclusive"] = shown.inconclusive
        record["unconcluded"] = shown.unconcluded
    return record


#: The fields of an event that hold a text the target chose.
_TEXT_FIELDS = ("text", "reason", "exception", "problem", "message", "logger")


def clip_json(item: dict[str, JSON]) -> dict[str, JSON]:
    """An event's JSON with its texts clipped to :data:`~wscheck.core.limits.CLIP_LENGTH`
    characters and a binary payload to :data:`~wscheck.core.limits.CLIP_BYTES` bytes (``size``
    keeps the real size, so a ``base64`` shorter than ``size`` says it was clipped)."""
    out = dict(item)
    for key in _TEXT_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = clip(out[key])
    if out.get("type") == "binary" and isinstance(out.get("size"), int) \
            and out["size"] > CLIP_BYTES:
        head = base64.b64decode(out["base64"])[:CLIP_BYTES]
        out["base64"] = base64.b64encode(head).decode("ascii")
    return out


def _kit_version() -> str:
    try:
        from importlib.metadata import version

        return version("pytest-wscheck")  # the distribution; "wscheck" on PyPI is another
    except Exception:  # pragma: no cover - not installed (a checkout on sys.path)
        from wscheck._version import __version__

        return __version__


def spec_json(spec: Spec) -> dict[str, JSON]:
    """The spec in a report: its digest, its TOML text and the same as a JSON object (the
    TOML document's tables, which :func:`wscheck.core.spec.spec_from_mapping` reads back)."""
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
        "checks": [_clip_message(c) for c in checks],
    }


def _clip_message(record: Mapping[str, JSON]) -> dict[str, JSON]:
    out = dict(record)
    if isinstance(out.get("message"), str):
        out["message"] = clip(out["message"], MAX_MESSAGE_LENGTH)
    return out


#: Characters that JSON leaves raw but a terminal acts on (C1 controls such as CSI) or that
#: reorder or hide text (bidirectional controls, line separators, zero-width characters).
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e"
                          "\u2060-\u206f\ufeff\ufff9-\ufffb]")


def report_json(report: Mapping[str, JSON]) -> str:
    """The report as JSON text, readable UTF-8 except for the characters that could act on
    a terminal showing the file (``cat run.json``): those are ``\\u`` escapes, as JSON
    already writes C0 controls. They occur inside strings only, where the escape is exact."""
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_atomically(target: Path, content: str) -> None:
    """Write ``content`` to a fresh temporary file beside ``target`` and rename it over
    ``target``: a reader never sees half a report, and no temporary file is left behind,
    whatever fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), _new_file_mode())
            f.write(content)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_reports(report: Mapping[str, JSON], json_path: str | None,
                  html_path: str | None) -> list[str]:
    """Write the JSON and/or HTML files (parent directories are created); their paths.

    Raises :class:`~wscheck.errors.SettingError` for a path that is not a regular file (see
    :func:`check_report_path`) and ``OSError`` when writing fails.
    """
    written = []
    for path, kind, flag in ((json_path, "json", "--wscheck-report"),
                             (html_path, "html", "--wscheck-html")):
        if not path:
            continue
        check_report_path(path, flag)
        content = (report_json(report) if kind == "json" else render_html(report))
        _write_atomically(Path(path), content)
        written.append(path)
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
    """A value from the run as HTML text; control characters are shown as escapes."""
    return html.escape(printable(str(value), keep_newlines=True), quote=True)


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
