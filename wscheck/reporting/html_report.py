"""The HTML report: one self-contained page rendered from the JSON report's document, so that
the two always say the same (``docs/report-schema.md``). Every value from the run is escaped
and nothing is fetched from anywhere."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from wscheck.core.codec import action_from_json, conversation_from_json, event_from_json
from wscheck.core.events import describe
from wscheck.core.limits import printable
from wscheck.core.render import render_conversation
from wscheck.reporting.record import JSON
from wscheck.run.registry import Outcome

__all__ = ["render_html"]

_COLOURS: dict[str, str] = {
    Outcome.PASS: "#1a7f37", Outcome.FAIL: "#cf222e", Outcome.WARN: "#bf8700",
    Outcome.XFAIL: "#8250df", Outcome.XPASS: "#cf222e", Outcome.ERROR: "#a40e26",
    Outcome.SKIP: "#6e7781", Outcome.INCONCLUSIVE: "#0969da",
    Outcome.INFORMATIONAL: "#1f6feb",
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


def _head(report: Mapping[str, JSON]) -> list[str]:
    """The page's head and the run's table: target, spec, kit, time, the counts."""
    target, spec = report.get("target", {}), report.get("spec", {})
    summary = report.get("summary", {})
    return [
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
    ]


def _checks_table(checks: list[Mapping[str, JSON]]) -> list[str]:
    """One row per check, linking to its section."""
    out = ["<h2>Checks</h2>",
           '<table class="summary"><tr><th>id</th><th>level</th><th>verdict</th>'
           "<th>duration</th><th>protocol</th><th>description</th></tr>"]
    for c in checks:
        anchor = "check-" + _e(c.get("id", ""))
        out.append(
            f'<tr><td><a href="#{anchor}"><code>{_e(c.get("id"))}</code></a></td>'
            f"<td>{_e(c.get('level'))}</td><td>{_verdict_badge(str(c.get('verdict')))}</td>"
            f'<td class="dur">{float(c.get("duration") or 0):.3f}s</td>'
            f"<td>{_e(c.get('line'))}</td><td>{_e(c.get('description'))}</td></tr>")
    out.append("</table>")
    return out


def _conversation_html(conversation: JSON) -> str:
    try:
        shown = render_conversation(conversation_from_json(conversation))
    except (KeyError, ValueError, TypeError):
        shown = json.dumps(conversation, ensure_ascii=False)
    return f"<p>conversation:</p><pre>{_e(shown)}</pre>"


def _check_section(c: Mapping[str, JSON]) -> list[str]:
    """A check's section: what it found, its conversation and both transcripts."""
    anchor = "check-" + _e(c.get("id", ""))
    out = [f'<section class="check" id="{anchor}">',
           f"<h2>{_verdict_badge(str(c.get('verdict')))} <code>{_e(c.get('id'))}"
           f"</code> [{_e(c.get('level'))}]</h2>",
           f"<p>protocol {_e(c.get('line'))}: {_e(c.get('description'))}</p>"]
    if c.get("problem"):
        out.append(f"<p><strong>{_e(c['problem'])}</strong></p>")
    if c.get("inconclusive"):
        out.append(f"<p><strong>inconclusive ({_e(c.get('unconcluded'))}): "
                   f"{_e(c['inconclusive'])}</strong></p>")
    if c.get("message"):
        out.append(f"<pre>{_e(c['message'])}</pre>")
    if c.get("conversation"):
        out.append(_conversation_html(c["conversation"]))
        out.append(_transcripts_html(c))
    if c.get("aftermath"):
        out.append("<p>after the conversation, on the server side: "
                   f"<code>{_e(_describe_json(c['aftermath']))}</code></p>")
    out.extend(f"<pre>{_e(note)}</pre>" for note in c.get("notes") or [])
    if c.get("trace"):
        out.append("<p>frames (→ sent by the kit, ← received):</p>"
                   f"<pre>{_e(chr(10).join(c['trace']))}</pre>")
    if c.get("replay"):
        out.append(f"<p>replay:</p><pre>{_e(c['replay'])}</pre>")
    out.append("</section>")
    return out


def render_html(report: Mapping[str, JSON]) -> str:
    """One self-contained page: a summary table and, per check that did not simply pass,
    its conversation and the expected and observed transcripts side by side with the
    first difference marked."""
    checks = report.get("checks", [])
    out = [*_head(report), *_checks_table(checks)]
    for c in checks:
        if c.get("verdict") != Outcome.PASS or c.get("notes"):
            out.extend(_check_section(c))
    out.append("</body></html>\n")
    return "\n".join(out)
