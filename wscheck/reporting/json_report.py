"""The JSON report (the schema is in ``docs/report-schema.md``) and writing the report files.

The collector hands over one :class:`~wscheck.reporting.record.CheckRecord` per check at the
end of the session; :func:`build_report` makes the document of them, :func:`write_reports`
writes it as JSON and as the HTML page rendered from it
(:mod:`wscheck.reporting.html_report`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from wscheck.core.api import api_to_json
from wscheck.core.limits import MAX_MESSAGE_LENGTH, check_report_path, clip
from wscheck.reporting.html_report import render_html
from wscheck.reporting.record import JSON, CheckRecord
from wscheck.run.registry import Outcome

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from wscheck.config.settings import Settings
from wscheck.core.spec import Spec

__all__ = [
    "FORMAT",
    "VERDICTS",
    "build_report",
    "report_json",
    "spec_json",
    "write_reports",
]

#: The ``format`` field of every report; bumped when a field changes meaning.
FORMAT = "wscheck-report/1"

#: Every verdict a check can get in a report, in summary order.
VERDICTS = tuple(o for o in Outcome if o is not Outcome.NOT_APPLICABLE)


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
    found: dict[str, JSON] = {"digest": spec.digest(), "toml": toml, "data": tomllib.loads(toml)}
    if spec.api is not None:  # an AsyncAPI document's API, for replay
        found["api"] = api_to_json(spec.api)
    return found


def build_report(
    settings: Settings,
    checks: Sequence[CheckRecord],
    *,
    exit_status: int | None,
    show_credentials: bool,
    expected_failures: Iterable[str] = (),
    started: datetime | None = None,
) -> dict[str, JSON]:
    """The whole report document (see ``docs/report-schema.md``)."""
    summary = {verdict.value: 0 for verdict in VERDICTS}
    for c in checks:
        summary[c.verdict.value] = summary.get(c.verdict.value, 0) + 1
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


def _clip_message(record: CheckRecord) -> dict[str, JSON]:
    out = record.to_json()
    if record.message is not None:
        out["message"] = clip(record.message, MAX_MESSAGE_LENGTH)
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
