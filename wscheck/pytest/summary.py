"""The run's summary on the terminal, after pytest's: counts by level and verdict, then one
line per failure, warning, known failure and note, from the same records the JSON report is
written from (:class:`~wscheck.pytest.collector.ReportCollector`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wscheck.config.settings import Settings
from wscheck.pytest.collector import ReportCollector
from wscheck.reporting.record import CheckRecord
from wscheck.run.registry import Outcome

__all__ = ["write_summary"]

#: The verdicts whose problem the summary says in one line.
_FAILED = (Outcome.FAIL, Outcome.WARN, Outcome.XFAIL)


def write_summary(terminal: Any, collector: ReportCollector, settings: Settings) -> None:
    """Everything the kit says after pytest's summary, on pytest's ``terminalreporter``."""
    for path in collector.written:
        terminal.write_line(f"wscheck: report written to {path}")
    for problem in collector.problems:
        terminal.write_line(f"wscheck: {problem}", red=True)
    records = collector.ordered()
    if not records:
        return
    terminal.section("wscheck")
    terminal.write_line(f"target: {settings.target}   spec: {settings.spec.digest()}")
    terminal.write_line(_counts(records))
    for record in records:
        for line in _lines(record, settings):
            terminal.write_line(line)
    for line in _inconclusive_lines(records):
        terminal.write_line(line)
    blocking = collector.inconclusive_blocking()
    if blocking:
        terminal.write_line(
            f"wscheck: {len(blocking)} check(s) inconclusive because a precondition failed "
            f"({', '.join(blocking)}): not observed conforming, so the exit status is not 0",
            red=True)


def _counts(records: Sequence[CheckRecord]) -> str:
    """``31 MUST pass, 3 SHOULD pass, 7 MUST not applicable``, sorted by what is counted. A
    check that does not apply to the spec is counted as that, not as pytest's skip."""
    counts: dict[str, int] = {}
    for record in records:
        verdict = (Outcome.NOT_APPLICABLE if record.outcome is Outcome.NOT_APPLICABLE
                   else record.verdict)
        key = f"{record.level} {verdict}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


def _lines(record: CheckRecord, settings: Settings) -> list[str]:
    """A failure with its diagnoses, a known failure that passes, or a pass's notes."""
    if record.verdict in _FAILED and record.problem:
        return [f"{record.verdict.upper():5} {record.where}: {record.problem}",
                *(f"      {note}" for note in record.diagnoses)]
    if record.verdict is Outcome.XPASS:
        return [f"XPASS {record.where}: passes, but is listed as a known failure in "
                f"{settings.known_failures.get(record.id)}: take it off the list"]
    if record.verdict is Outcome.INFORMATIONAL:
        return [f"INFO  {record.where}: {note}" for note in record.notes]
    if record.verdict is Outcome.PASS:
        return [f"NOTE  {record.id}: {note}" for note in record.notes]
    return []


def _inconclusive_lines(records: Sequence[CheckRecord]) -> list[str]:
    """Inconclusive checks that share a reason (every client of an endpoint refused) said
    once, together, instead of once per check."""
    unseen: dict[tuple[str, str], list[str]] = {}
    for record in records:
        if record.verdict is Outcome.INCONCLUSIVE:
            group = (str(record.unconcluded), str(record.inconclusive))
            unseen.setdefault(group, []).append(record.where)
    lines = []
    for (kind, reason), where_all in unseen.items():
        said = "cannot be observed" if kind == "unobservable" else "precondition failed"
        reason = reason.removeprefix(f"{said}: ")
        lines.append(f"INCONCLUSIVE {', '.join(where_all)} ({said}): {reason}")
    return lines
