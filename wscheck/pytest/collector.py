"""The run's record of every check: one :class:`~wscheck.reporting.record.CheckRecord` per
check, gathered from pytest's reports (on the xdist controller too), read by the terminal
summary and written as the JSON and HTML reports at the end of the session.

A check's item attaches its record to its report as a user property (:func:`record_property`),
as plain JSON values, so that it travels from an xdist worker to the controller (pytest
serializes a report's ``user_properties`` with the rest of it, and execnet carries plain
values only); the collector turns it back into a record and takes it off again before JUnit
XML or any other plugin sees it. The controller lists the records in suite order, whatever
order the workers finish in, so that a run with and without ``-n`` gives the same summary and
reports.

:func:`classify_outcome` is the one place that says what a check's verdict is once pytest
has had its say (xfail, error, skip, ...).

Every module it needs is imported with it, at start-up, never first when a failure is
reported: on CPython 3.11 a module that pytest's assertion rewriting parses while another
thread parses source too can fail to import (docs/internals.md).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

import pytest

from wscheck.config.settings import Settings
from wscheck.errors import SettingError
from wscheck.reporting.json_report import build_report, write_reports
from wscheck.reporting.record import CheckRecord
from wscheck.reporting.replay import httpx_ws_snippet, replay_command
from wscheck.run.registry import Check, Outcome, Verdict, find_check, suite_checks

__all__ = ["RECORD_PROPERTY", "ReportCollector", "blocks_exit_0", "check_word",
           "classify_outcome", "record_property", "replay_hint"]

#: The user property that carries a check's record from the item (or an xdist worker) to the
#: collector; taken off again before JUnit or any other plugin sees it.
RECORD_PROPERTY = "wscheck_record"

#: How a check's failure starts when the target did not answer (the item's ``repr_failure``);
#: after one, the run stops.
TARGET_DOWN = "wscheck: the target does not answer"


def record_property(record: CheckRecord) -> tuple[str, Any]:
    """The user property that carries ``record`` to the collector, as plain JSON values."""
    return RECORD_PROPERTY, record.to_wire()


def check_word(check: Check, verdict: Verdict, *, listed: bool, strict: bool) -> Outcome:
    """What the check itself says, before pytest: ``pass``, ``fail``, ``warn`` (a SHOULD
    failure when not strict), ``xfail`` / ``xpass`` (listed as a known failure),
    ``inconclusive`` (it could not observe its line: never a pass, see :func:`blocks_exit_0`)."""
    if verdict.is_inconclusive:
        return Outcome.INCONCLUSIVE
    if verdict.passed:
        if listed:
            return Outcome.XPASS
        return Outcome.INFORMATIONAL if verdict.informational else Outcome.PASS
    if listed:
        return Outcome.XFAIL
    # NON-STRICT (the rfc6455 suite): allowed, but not what the RFC asks, whatever the level.
    should = check.level == "SHOULD" or verdict.non_strict
    return Outcome.WARN if should and not strict else Outcome.FAIL


def classify_outcome(report: pytest.TestReport, word: Outcome) -> Outcome:
    """The check's verdict in the report: its own ``word`` (``error`` if it never gave one)
    settled by pytest's outcome for the item."""
    if hasattr(report, "wasxfail"):
        return Outcome.XFAIL if report.skipped else Outcome.XPASS
    if report.failed:
        if word is Outcome.XPASS:
            return Outcome.XPASS  # pytest's strict xfail: a listed check passed
        return Outcome.FAIL if word in (Outcome.FAIL, Outcome.XFAIL) else Outcome.ERROR
    if report.skipped:
        return Outcome.INCONCLUSIVE if word is Outcome.INCONCLUSIVE else Outcome.SKIP
    return word if word in (Outcome.WARN, Outcome.INFORMATIONAL) else Outcome.PASS


def blocks_exit_0(record: CheckRecord, *, strict: bool) -> bool:
    """Whether an inconclusive check keeps the run from exit status 0 on its own.

    An inconclusive check has not observed the target conforming, so a MUST check (a SHOULD
    check under strict) whose precondition failed makes the run exit 1, as a failure does.
    The one exception is a line that cannot be observed through this target kind at all (a
    server's log over the network): nothing the target could do would let it pass, so such a
    check is counted and shown but leaves the exit status alone."""
    if record.verdict is not Outcome.INCONCLUSIVE or record.unconcluded == "unobservable":
        return False
    return record.level == "MUST" or strict


def replay_hint(settings: Settings, chk: Check, verdict: Verdict) -> str | None:
    """How to run the failing conversation again, in flags that work where it is printed:
    ``wscheck replay`` when a JSON report is being written; else, for a network target, the
    conversation as httpx-ws code."""
    if chk.suite == "rfc6455" and verdict.problem is not None:
        # No conversation to replay: the case itself runs again, alone.
        target = (f"--url {settings.url}" if settings.url else f"--app {settings.app}")
        if settings.interface == "run":
            return f"wscheck run {target} --suite rfc6455 -- -k {chk.id}"
        return (f"pytest --wscheck-{target[2:]} --wscheck-suite rfc6455 -p no:cacheprovider "
                f"-k {chk.id}")
    if verdict.observation is None:
        return None
    if settings.report:
        return replay_command(settings.report, chk.id, url=settings.url, app=settings.app)
    report_flag = settings.flag("report")
    if settings.url:
        return (f"this conversation with httpx-ws (or add {report_flag} FILE.json and use "
                "`wscheck replay`):\n"
                + httpx_ws_snippet(settings.url, verdict.observation.conversation,
                                   settings.spec))
    return (f"add {report_flag} wscheck-report.json, then: "
            f"{replay_command('wscheck-report.json', chk.id, app=settings.app)}")


class ReportCollector:
    """Gathers one record per check from the test reports and writes the JSON and HTML
    reports (when asked for) at the end of the session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = datetime.now(timezone.utc)
        self.records: dict[str, CheckRecord] = {}
        self.written: list[str] = []
        self.problems: list[str] = []
        #: A check reported that the target does not answer, so the run stopped there.
        self.target_down = False

    def ordered(self) -> list[CheckRecord]:
        """The records in suite order. Under xdist the controller receives reports in the
        order the workers finish them; the summary and the reports list the checks in the
        suite's order all the same, so that a run with and without ``-n`` reads alike."""
        position = {c.id: i for i, c in enumerate(suite_checks("all", self.settings.spec))}
        return sorted(self.records.values(),
                      key=lambda r: (position.get(r.id, len(position)), r.id))

    def add(self, report: pytest.TestReport) -> None:
        check_id = report.nodeid.removeprefix("wscheck::")
        chk = find_check(check_id, self.settings.spec)
        if not report.nodeid.startswith("wscheck::") or chk is None:
            return
        entry = self.records.get(report.nodeid) or CheckRecord.of(chk, Outcome.ERROR)
        found = [v for k, v in report.user_properties if k == RECORD_PROPERTY]
        if found and isinstance(found[-1], dict):
            # What the item found; the verdict, duration and message are the collector's.
            entry = dataclasses.replace(CheckRecord.from_wire(found[-1]), verdict=entry.verdict,
                                        duration=entry.duration, message=entry.message)
        if report.failed and _message(report).startswith(TARGET_DOWN):
            self.target_down = True
        entry = self.records[report.nodeid] = dataclasses.replace(
            entry, duration=round(entry.duration + report.duration, 6))
        if report.when == "call" or report.failed or report.skipped:
            if report.when == "teardown" and entry.verdict is not Outcome.PASS:
                return  # a teardown problem after a verdict changes nothing in the report
            verdict = classify_outcome(report, entry.outcome)
            message = entry.message
            if verdict in (Outcome.ERROR, Outcome.SKIP, Outcome.XPASS) or (
                    verdict in (Outcome.FAIL, Outcome.XFAIL) and entry.problem is None):
                message = _message(report)
            self.records[report.nodeid] = dataclasses.replace(entry, verdict=verdict,
                                                              message=message)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Registered on the controller only: an xdist worker's reports reach it with their
        records. The record is taken off before JUnit XML or anyone else sees it."""
        if not report.nodeid.startswith("wscheck::"):
            return
        self.add(report)
        report.user_properties = [(k, v) for k, v in report.user_properties
                                  if k != RECORD_PROPERTY]

    def inconclusive_blocking(self) -> list[str]:
        """The inconclusive checks that keep the run from exit status 0 (see
        :func:`blocks_exit_0`)."""
        return [r.id for r in self.records.values()
                if blocks_exit_0(r, strict=self.settings.strict)]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the reports. Under xdist, a worker that stops the run because the target
        does not answer makes the controller raise ``Interrupted`` (exit status 2, as for
        Ctrl-C); without ``-n`` the same stop ends with 1, a failed check. The controller
        says 1 too, so that the exit status does not depend on ``-n``. A run in which nothing
        failed but a check that blocks exit 0 was inconclusive ends with 1 as well."""
        if (session.exitstatus == pytest.ExitCode.INTERRUPTED and self.target_down
                and session.config.pluginmanager.has_plugin("dsession")) or (
                int(session.exitstatus) == 0 and self.inconclusive_blocking()):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.settings.report or self.settings.html:
            self.write(int(session.exitstatus))

    def write(self, exit_status: int | None) -> None:
        report = build_report(
            self.settings, self.ordered(), exit_status=exit_status,
            show_credentials=self.settings.show_credentials,
            expected_failures=list(self.settings.known_failures), started=self.started)
        try:
            self.written = write_reports(report, self.settings.report, self.settings.html)
        except (OSError, SettingError) as exc:  # a path that turned into a FIFO since
            self.problems.append(f"cannot write the report: {exc}")


def _message(report: pytest.TestReport) -> str:
    """What pytest says went wrong, as the check's item put it. Not ``longreprtext``: on the
    xdist controller that starts with the worker's platform line (``[gw0] linux -- Python
    ...``), which would make the report differ from a run without ``-n``."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    if longrepr is None:
        return ""
    return str(longrepr).strip()
