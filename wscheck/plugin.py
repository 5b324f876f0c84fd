"""pytest glue: options, ini keys, the bundled suite as test items, fixtures, the summary.

Everything that decides a verdict lives elsewhere (checks, model, drivers); this module only
translates between pytest and the kit. With ``--wscheck-app`` or ``--wscheck-url`` (or the
matching ini keys) the bundled suite is added to whatever pytest collected, even from an empty
directory; without a target the plugin adds nothing and only offers its fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from wscheck.checks import Check, Verdict, all_checks, format_failure
from wscheck.drivers.base import Connection, Driver, TargetUnreachable
from wscheck.errors import CheckFailure, SettingError
from wscheck.events import Conversation, Event
from wscheck.known import KEY as KNOWN_KEY
from wscheck.known import load_spec_and_known, read_xfail_file, unknown_ids
from wscheck.limits import printable
from wscheck.redaction import redact_verdict, safe_line, set_log_redaction
from wscheck.report import check_record, check_report_path
from wscheck.runner import Observation
from wscheck.spec import Spec, SpecError
from wscheck.target import Runtime, Settings, TargetDown, TargetError, load_app

__all__ = ["CheckItem", "WscheckWarning"]

SETTINGS_KEY = pytest.StashKey[Settings]()
RUNTIME_KEY = pytest.StashKey[Runtime]()
RESULTS_KEY = pytest.StashKey[list[tuple[Check, str, Verdict | None]]]()
#: Known failures: check id → where it is listed.
KNOWN_FAILURES_KEY = pytest.StashKey[dict[str, str]]()
REPORT_KEY = pytest.StashKey["ReportCollector"]()

DEFAULT_TIMEOUT = 2.0
DEFAULT_QUIET_WINDOW = 0.2
DEFAULT_EXAMPLES_ASGI = 100
DEFAULT_EXAMPLES_URL = 25

_OPTIONS: list[tuple[str, str, str]] = [
    # (name, ini type, help)
    ("app", "string", "ASGI app to check in-process, as MODULE:ATTR or MODULE:factory()."),
    ("url", "string", "Live server to check over the network: ws://HOST:PORT[/prefix] or wss://."),
    ("spec", "string", "TOML file describing the protocol (default: [tool.wscheck] in the "
                       "rootdir's pyproject.toml, else the reference protocol)."),
    ("timeout", "string", f"Seconds any single wait may take (default {DEFAULT_TIMEOUT:g})."),
    ("quiet-window", "string", "Seconds to wait for unexpected messages (default "
                               f"{DEFAULT_QUIET_WINDOW:g}; in-process, silence is usually "
                               "known at once and this is not waited)."),
    ("ca-file", "string", "CA bundle to trust for wss:// targets (e.g. a self-signed cert)."),
    ("examples", "string", "Generated examples per property check (default "
                           f"{DEFAULT_EXAMPLES_ASGI} in-process, {DEFAULT_EXAMPLES_URL} over "
                           "the network)."),
    ("report", "string", "Write a JSON report of the run to this file (schema: "
                         "docs/report-schema.md); written even when checks fail."),
    ("html", "string", "Write a self-contained HTML report of the run to this file."),
    ("xfail", "string", "File of known failures: check ids, one a line (# comments); they "
                        "report xfail, and fail the run once they pass."),
]


class WscheckWarning(pytest.PytestWarning):
    """A SHOULD-level check failed: reported, but it does not fail the run unless strict."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wscheck", "WebSocket chat protocol conformance (wscheck)")
    for name, ini_type, help_text in _OPTIONS:
        dest = "wscheck_" + name.replace("-", "_")
        group.addoption(f"--wscheck-{name}", dest=dest, default=None, help=help_text)
        parser.addini(dest, help_text, type=ini_type, default=None)  # type: ignore[arg-type]
    group.addoption("--wscheck-strict", dest="wscheck_strict", action="store_true",
                    default=None, help="Fail the run on SHOULD-level failures too.")
    parser.addini("wscheck_strict", "Fail the run on SHOULD-level failures too.", type="bool",
                  default=False)
    group.addoption("--wscheck-show-credentials", dest="wscheck_show_credentials",
                    action="store_true", default=False,
                    help="Show token and cookie values in reports (masked by default: t•••).")
    group.addoption("--wscheck-no-suite", dest="wscheck_no_suite", action="store_true",
                    default=False,
                    help="Configure the target for the wscheck fixtures, but do not add the "
                         "bundled conformance suite.")


def _value(config: pytest.Config, dest: str) -> tuple[Any, str]:
    """An option's value and where it came from (the flag wins over the ini key)."""
    value = config.getoption(dest)
    if value is not None:
        return value, "--" + dest.replace("_", "-")
    return config.getini(dest), dest + " (ini)"


def _seconds(config: pytest.Config, dest: str, default: float) -> float:
    raw, where = _value(config, dest)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"{where} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 3600:
        raise pytest.UsageError(f"{where} must be between 0 and 3600 seconds, got {raw!r}")
    return value


def _examples(config: pytest.Config, default: int) -> int:
    raw, where = _value(config, "wscheck_examples")
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{where} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise pytest.UsageError(f"{where} must be at least 1, got {raw!r}")
    return value


def _path(config: pytest.Config, raw: str, where: str) -> Path:
    """A file named by a flag (relative to the current directory) or an ini key (relative to
    the rootdir)."""
    base = config.rootpath if where.endswith("(ini)") else Path.cwd()
    return (base / raw) if not Path(raw).is_absolute() else Path(raw)


def resolve_spec_and_known(config: pytest.Config) -> tuple[Spec, tuple[str, ...], str]:
    """The spec file named by option or ini key, else ``[tool.wscheck]`` in the rootdir's
    pyproject.toml, else the reference protocol; with the ``expected_failures`` it lists and
    where they came from."""
    raw, where = _value(config, "wscheck_spec")
    try:
        if raw:
            path = _path(config, raw, where)
            return (*load_spec_and_known(path), str(path))
        pyproject = config.rootpath / "pyproject.toml"
        if pyproject.is_file() and "[tool.wscheck" in pyproject.read_text(encoding="utf-8"):
            return (*load_spec_and_known(pyproject), f"{pyproject} [tool.wscheck]")
    except SpecError as exc:
        raise pytest.UsageError(str(exc)) from None
    return Spec(), (), ""


def resolve_spec(config: pytest.Config) -> Spec:
    """The spec file named by option or ini key, else ``[tool.wscheck]`` in the rootdir's
    pyproject.toml, else the reference protocol."""
    return resolve_spec_and_known(config)[0]


def _known_failures(config: pytest.Config, from_spec: tuple[str, ...],
                    spec_where: str) -> dict[str, str]:
    """Known failures (check id → where it is listed) from the spec and ``--wscheck-xfail``;
    an id that names no check is a usage error, so a list cannot rot unnoticed."""
    sources = [(i, f"{KNOWN_KEY} of {spec_where}") for i in from_spec]
    raw, where = _value(config, "wscheck_xfail")
    if raw:
        path = _path(config, raw, where)
        try:
            sources += [(i, str(path)) for i in read_xfail_file(path)]
        except SpecError as exc:
            raise pytest.UsageError(str(exc)) from None
    for check_id, source in sources:
        if unknown_ids([check_id]):
            raise pytest.UsageError(
                f"unknown check id {check_id!r} in the known failures ({source}); "
                "`wscheck checks` lists the ids")
    return dict(sources)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wscheck(id, level): a bundled wscheck conformance check")
    # A failing 64 KiB message makes Hypothesis warn that its repr is large; the kit prints
    # the conversation itself, clipped, so the warning only adds noise.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")
    app_ref, _ = _value(config, "wscheck_app")
    url, _ = _value(config, "wscheck_url")
    if app_ref and url:
        raise pytest.UsageError(
            "give either --wscheck-app or --wscheck-url, not both (one target per run)")
    strict_flag = config.getoption("wscheck_strict")
    spec, from_spec, spec_where = resolve_spec_and_known(config)
    config.stash[KNOWN_FAILURES_KEY] = _known_failures(config, from_spec, spec_where)
    settings = Settings(
        spec=spec,
        app=app_ref or None,
        url=url or None,
        timeout=_seconds(config, "wscheck_timeout", DEFAULT_TIMEOUT),
        quiet_window=_seconds(config, "wscheck_quiet_window", DEFAULT_QUIET_WINDOW),
        ca_file=_value(config, "wscheck_ca_file")[0] or None,
        strict=bool(strict_flag if strict_flag is not None else config.getini("wscheck_strict")),
        examples=_examples(config, DEFAULT_EXAMPLES_URL if url and not app_ref
                           else DEFAULT_EXAMPLES_ASGI),
        show_credentials=bool(config.getoption("wscheck_show_credentials")),
    )
    config.stash[SETTINGS_KEY] = settings
    config.stash[RESULTS_KEY] = []
    set_log_redaction(not settings.show_credentials)
    json_path, _ = _value(config, "wscheck_report")
    html_path, _ = _value(config, "wscheck_html")
    try:
        for report_path, flag in ((json_path, "--wscheck-report"), (html_path, "--wscheck-html")):
            if report_path:
                check_report_path(report_path, flag)
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None
    if (json_path or html_path) and (settings.app or settings.url):  # no target: no report
        collector = ReportCollector(
            json_path or None, html_path or None,
            show_credentials=bool(config.getoption("wscheck_show_credentials")))
        config.stash[REPORT_KEY] = collector
        if not hasattr(config, "workerinput"):  # with xdist, the controller writes
            config.pluginmanager.register(collector, "wscheck-report")
    app = None
    try:
        if settings.app:
            app = load_app(settings.app)
        elif settings.url:
            from wscheck.drivers.url import parse_target_url

            parse_target_url(settings.url)
            if settings.ca_file and not Path(settings.ca_file).is_file():
                raise TargetError(f"--wscheck-ca-file {settings.ca_file!r} does not exist: "
                                  "give the path of a PEM file with the CA to trust")
    except (TargetError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.app or settings.url:
        config.stash[RUNTIME_KEY] = Runtime(settings, app)


def pytest_unconfigure(config: pytest.Config) -> None:
    set_log_redaction(False)
    collector = config.stash.get(REPORT_KEY, None)
    if collector is not None and config.pluginmanager.is_registered(collector):
        config.pluginmanager.unregister(collector)
    runtime = config.stash.get(RUNTIME_KEY, None)
    if runtime is not None:
        runtime.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or RUNTIME_KEY not in config.stash:
        return None
    kind = "in-process ASGI" if settings.app else "network"
    return (f"wscheck: {kind} target {settings.target}, spec {settings.spec.digest()}, "
            f"timeout {settings.timeout:g}s, {settings.examples} examples per property"
            f"{', strict' if settings.strict else ''}")


class WscheckSuite(pytest.Collector):
    """The bundled conformance suite: one item per check."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return [CheckItem.from_parent(self, name=c.id, check=c) for c in all_checks()]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if RUNTIME_KEY not in config.stash or config.getoption("wscheck_no_suite"):
        return
    suite = WscheckSuite.from_parent(session, name="wscheck", nodeid="wscheck")
    report = pytest.CollectReport(suite.nodeid, "passed", None, suite.collect())
    config.hook.pytest_collectreport(report=report)
    items[:0] = [i for i in report.result if isinstance(i, pytest.Item)]


class CheckItem(pytest.Item):
    """One bundled check as a pytest test (node id ``wscheck::<check id>``)."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(pytest.mark.wscheck(check.id, check.level))
        self.user_properties.append(("wscheck_id", check.id))
        self.user_properties.append(("wscheck_level", check.level))
        known = self.config.stash.get(KNOWN_FAILURES_KEY, {})
        if check.id in known:
            # Strict: once the check passes the run fails, so the list never rots.
            self.add_marker(pytest.mark.xfail(
                reason=f"known failure (listed in {known[check.id]})", strict=True,
                raises=CheckFailure))

    def runtest(self) -> None:
        runtime = self.config.stash[RUNTIME_KEY]
        results = self.config.stash[RESULTS_KEY]
        reason = self.check.not_applicable(runtime.settings.spec)
        if reason:
            results.append((self.check, "not applicable", None))
            pytest.skip(f"not applicable: {reason}")
        try:
            runtime.ensure_up()
        except TargetDown:
            self.session.shouldfail = "wscheck: the target does not answer (see the first failure)"
            raise
        assert runtime.driver is not None
        from wscheck.checks import Context

        ctx = Context(runtime.settings.spec, runtime.driver, runtime.settings.examples)
        try:
            verdict = _run_with_progress(self, runtime, ctx)
        except TargetUnreachable as exc:  # it answered the probe, then went away
            self.session.shouldfail = "wscheck: the target does not answer (see the first failure)"
            raise TargetDown(str(exc)) from None
        listed = self.check.id in self.config.stash.get(KNOWN_FAILURES_KEY, {})
        outcome = ("xpass" if verdict.passed and listed else
                   "pass" if verdict.passed else
                   "xfail" if listed else
                   "warn" if self.check.level == "SHOULD" and not runtime.settings.strict
                   else "fail")
        # Everything shown from here on (terminal, JUnit, warnings) has credentials masked.
        shown = redact_verdict(verdict, runtime.settings.spec,
                               show_credentials=runtime.settings.show_credentials)
        results.append((self.check, outcome, shown))
        self.user_properties.append(("wscheck_verdict", outcome))
        for note in shown.notes:
            self.user_properties.append(("wscheck_note", note))
        replay = _replay_hint(self.config, self.check, shown) if not verdict.passed else None
        collector = self.config.stash.get(REPORT_KEY, None)
        if collector is not None:
            self.user_properties.append((RECORD_PROPERTY, check_record(
                self.check, outcome, verdict, runtime.settings.spec,
                show_credentials=collector.show_credentials,
                replay=replay)))
        text = printable(format_failure(self.check, shown), keep_newlines=True)
        if replay:
            text += "\n\nreplay: " + replay
        if outcome == "warn":
            warnings.warn(WscheckWarning(text), stacklevel=1)
        elif outcome in ("fail", "xfail"):
            raise CheckFailure(text)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str:
        if isinstance(excinfo.value, CheckFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, TargetDown):
            return f"wscheck: the target does not answer: {safe_line(str(excinfo.value))}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"wscheck {self.check.id} [{self.check.level}]"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    collector = config.stash.get(REPORT_KEY, None)
    if collector is not None:
        for path in collector.written:
            terminalreporter.write_line(f"wscheck: report written to {path}")
        for problem in collector.problems:
            terminalreporter.write_line(f"wscheck: {problem}", red=True)
    results = config.stash.get(RESULTS_KEY, [])
    if not results:
        return
    counts: dict[str, int] = {}
    for chk, outcome, _ in results:
        key = f"{chk.level} {outcome}"
        counts[key] = counts.get(key, 0) + 1
    settings = config.stash[SETTINGS_KEY]
    terminalreporter.section("wscheck")
    terminalreporter.write_line(f"target: {settings.target}   spec: {settings.spec.digest()}")
    terminalreporter.write_line(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    known = config.stash.get(KNOWN_FAILURES_KEY, {})
    for chk, outcome, verdict in results:
        if outcome in ("fail", "warn", "xfail"):
            assert verdict is not None
            terminalreporter.write_line(f"{outcome.upper():5} {chk.id} [{chk.level}]: "
                                        f"{verdict.problem}")
        elif outcome == "xpass":
            terminalreporter.write_line(
                f"XPASS {chk.id} [{chk.level}]: passes, but is listed as a known failure in "
                f"{known.get(chk.id)}: take it off the list")
        elif verdict is not None:
            for note in verdict.notes:
                terminalreporter.write_line(f"NOTE  {chk.id}: {note}")


# --- progress, replay hints and reports -------------------------------------------------------

#: Seconds between progress lines of a long property check (none for a shorter one).
PROGRESS_INTERVAL = 2.0

#: The user property that carries a check's record from the item (or an xdist worker) to the
#: report; taken off again before JUnit or any other plugin sees it.
RECORD_PROPERTY = "wscheck_record"


class _CountingDriver:
    """The run's driver, counting the connections a check opens (progress of properties)."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self.kind = driver.kind
        self.target = driver.target
        self.timeout = driver.timeout
        self.connections = 0

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = ()) -> Connection:
        self.connections += 1
        return await self._driver.connect(path, query, cookies)

    async def aclose(self) -> None:  # pragma: no cover - the runtime closes the real driver
        await self._driver.aclose()


def _progress_reporter(config: pytest.Config) -> Any:
    """The terminal reporter when progress lines are wanted: on a terminal or with -v, never
    with -q, never on an xdist worker."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or hasattr(config, "workerinput"):
        return None
    verbosity = config.get_verbosity()
    if verbosity < 0:
        return None
    if verbosity > 0 or getattr(reporter, "isatty", False):
        return reporter
    return None


def _run_with_progress(item: CheckItem, runtime: Runtime, ctx: Any) -> Verdict:
    """Run the check; a property check that takes a while shows how far it got every
    :data:`PROGRESS_INTERVAL` seconds (``prop.conversation: 40 conversations, 4s``)."""
    reporter = _progress_reporter(item.config) if item.check.id.startswith("prop.") else None
    if reporter is None:
        return runtime.call(item.check.run, ctx)
    import concurrent.futures
    import dataclasses
    import time

    assert runtime.driver is not None
    counter = _CountingDriver(runtime.driver)
    ctx = dataclasses.replace(ctx, driver=counter)
    start = time.monotonic()
    future = runtime.submit(item.check.run(ctx))
    while True:
        done, _ = concurrent.futures.wait([future], timeout=PROGRESS_INTERVAL)
        if done:
            return future.result()
        line = (f"  {item.check.id}: {counter.connections} conversations, "
                f"{time.monotonic() - start:.0f}s (up to {ctx.examples} examples)")
        # Output capture is on while a test runs: step around it, as live logging does.
        capman = item.config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            reporter.write_line(line)


def _replay_hint(config: pytest.Config, chk: Check, verdict: Verdict) -> str | None:
    """How to run the failing conversation again: ``wscheck replay`` when a JSON report is
    being written; else, for a network target, the conversation as httpx-ws code."""
    from wscheck.replay import httpx_ws_snippet, replay_command

    settings = config.stash[SETTINGS_KEY]
    collector = config.stash.get(REPORT_KEY, None)
    if verdict.observation is None:
        return None
    if collector is not None and collector.json_path:
        return replay_command(collector.json_path, chk.id, url=settings.url, app=settings.app)
    if settings.url:
        return ("this conversation with httpx-ws (or add --wscheck-report FILE.json and use "
                "`wscheck replay`):\n"
                + httpx_ws_snippet(settings.url, verdict.observation.conversation,
                                   settings.spec))
    return (f"add --wscheck-report wscheck-report.json, then: "
            f"{replay_command('wscheck-report.json', chk.id, app=settings.app)}")


class ReportCollector:
    """Gathers one record per check from the test reports (on the xdist controller too) and
    writes the JSON and HTML reports at the end of the session."""

    def __init__(self, json_path: str | None, html_path: str | None, *,
                 show_credentials: bool) -> None:
        from datetime import datetime, timezone

        self.json_path = json_path
        self.html_path = html_path
        self.show_credentials = show_credentials
        self.started = datetime.now(timezone.utc)
        self.records: dict[str, dict[str, Any]] = {}
        self.written: list[str] = []
        self.problems: list[str] = []

    def add(self, report: pytest.TestReport) -> None:
        from wscheck.checks import CHECKS

        check_id = report.nodeid.removeprefix("wscheck::")
        chk = CHECKS.get(check_id)
        if not report.nodeid.startswith("wscheck::") or chk is None:
            return
        found = [v for k, v in report.user_properties if k == RECORD_PROPERTY]
        entry = self.records.setdefault(report.nodeid, {
            "id": chk.id, "level": chk.level, "line": chk.line,
            "description": chk.description, "verdict": "error", "duration": 0.0,
            "message": None, **check_record(chk, "error", None, Spec())})
        if found and isinstance(found[-1], dict):
            entry.update(found[-1])
        entry["duration"] = round(entry["duration"] + report.duration, 6)
        if report.when == "call" or report.failed or report.skipped:
            if report.when == "teardown" and entry["verdict"] != "pass":
                return  # a teardown problem after a verdict changes nothing in the report
            entry["verdict"] = _verdict(report, entry.get("outcome"))
            if entry["verdict"] in ("error", "skip", "xpass") or (
                    entry["verdict"] in ("fail", "xfail") and entry.get("problem") is None):
                entry["message"] = _message(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Registered on the controller only: an xdist worker's reports reach it with their
        records. The record is taken off before JUnit XML or anyone else sees it."""
        if not report.user_properties:
            return
        self.add(report)
        report.user_properties = [(k, v) for k, v in report.user_properties
                                  if k != RECORD_PROPERTY]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.write(session.config, int(exitstatus))

    def write(self, config: pytest.Config, exit_status: int | None) -> None:
        from wscheck.report import build_report, write_reports

        settings = config.stash[SETTINGS_KEY]
        report = build_report(
            settings, [{k: v for k, v in r.items() if k != "outcome"}
                       for r in self.records.values()],
            exit_status=exit_status, show_credentials=self.show_credentials,
            expected_failures=list(config.stash.get(KNOWN_FAILURES_KEY, {}).keys()),
            started=self.started)
        try:
            self.written = write_reports(report, self.json_path, self.html_path)
        except (OSError, SettingError) as exc:
            self.problems.append(f"cannot write the report: {exc}")


def _verdict(report: pytest.TestReport, outcome: str | None) -> str:
    if hasattr(report, "wasxfail"):
        return "xfail" if report.skipped else "xpass"
    if report.failed:
        if outcome == "xpass":
            return "xpass"  # pytest's strict xfail: a listed check passed
        return "fail" if outcome in ("fail", "xfail") else "error"
    if report.skipped:
        return "skip"
    return "warn" if outcome == "warn" else "pass"


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return report.longreprtext


# --- fixtures for users' own checks ---------------------------------------------------------


def _runtime(config: pytest.Config) -> Runtime:
    runtime = config.stash.get(RUNTIME_KEY, None)
    if runtime is None:
        pytest.fail("this test uses a wscheck fixture but no target is configured: run pytest "
                    "with --wscheck-app MODULE:ATTR or --wscheck-url ws://HOST:PORT",
                    pytrace=False)
    return runtime


@pytest.fixture(scope="session")
def wscheck_spec(pytestconfig: pytest.Config) -> Spec:
    """The protocol in effect for this run (from --wscheck-spec, [tool.wscheck], or the
    reference protocol)."""
    return pytestconfig.stash[SETTINGS_KEY].spec


@pytest.fixture(scope="session")
def wscheck_target(pytestconfig: pytest.Config) -> Settings:
    """The configured target and run settings (``.app`` or ``.url``, ``.timeout``, ...).
    Fails the test with a clear message when no target is configured."""
    _runtime(pytestconfig)
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture
def wscheck_run(pytestconfig: pytest.Config) -> Callable[[Conversation], Observation]:
    """Run a whole :class:`~wscheck.Conversation` on the target and get an
    :class:`Observation` (``.expected`` by the model, ``.observed``, ``.ok``).

    Synchronous: usable from plain and async tests alike::

        def test_hello_twice(wscheck_run, wscheck_spec):
            obs = wscheck_run(Conversation.of(wscheck_spec.echo.url_path(), "hi", "hi"))
            assert obs.ok, obs
    """
    runtime = _runtime(pytestconfig)

    def run(conversation: Conversation) -> Observation:
        runtime.ensure_up()
        try:
            return runtime.call(runtime.run, conversation)
        except TargetUnreachable as exc:
            raise TargetDown(str(exc)) from None

    return run


class BridgedConnection:
    """A connection on the run's loop, usable with ``await`` from any asyncio test loop
    (pytest-asyncio or anyio's asyncio backend)."""

    def __init__(self, runtime: Runtime, connection: Connection) -> None:
        self._runtime = runtime
        self._connection = connection
        self.handshake: Event = connection.handshake

    async def _on_run_loop(self, coro: Any) -> Any:
        return await asyncio.wrap_future(self._runtime.submit(coro))

    async def send_text(self, text: str) -> None:
        """Send a text message."""
        await self._on_run_loop(self._connection.send_text(text))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._on_run_loop(self._connection.send_bytes(data))

    async def receive(self, timeout: float | None = None) -> Event:
        """The next event (``Text``, ``Closed``, ...), or ``Silence`` after the deadline."""
        result: Event = await self._on_run_loop(self._connection.receive(timeout))
        return result

    async def quiet(self, window: float | None = None) -> Event | None:
        """None if the server stays silent, else what it sent."""
        result: Event | None = await self._on_run_loop(self._connection.quiet(window))
        return result

    async def close(self, code: int = 1000) -> None:
        """Close normally."""
        await self._on_run_loop(self._connection.close(code))

    async def drop(self) -> None:
        """Vanish without a closing handshake."""
        await self._on_run_loop(self._connection.drop())


ConnectFactory = Callable[..., Any]


@pytest.fixture
def wscheck_connect(pytestconfig: pytest.Config) -> Iterator[ConnectFactory]:
    """Open connections on the target from async tests::

        async def test_my_extra_check(wscheck_connect, wscheck_spec):
            conn = await wscheck_connect(wscheck_spec.echo.url_path())
            await conn.send_text("hi")
            assert await conn.receive() == Text("接收到的消息是:hi")

    ``await wscheck_connect(path, query={...}, cookies={...})`` returns a connection with
    ``send_text``, ``send_bytes``, ``receive(timeout)``, ``quiet()``, ``close()`` and
    ``drop()``; every wait has the run's deadline. Connections left open are closed after
    the test.
    """
    runtime = _runtime(pytestconfig)
    opened: list[Connection] = []

    async def connect(path: str, query: dict[str, str] | Sequence[tuple[str, str]] = (),
                      cookies: dict[str, str] | Sequence[tuple[str, str]] = ()
                      ) -> BridgedConnection:
        runtime.ensure_up()
        q = tuple(query.items()) if isinstance(query, dict) else tuple(query)
        c = tuple(cookies.items()) if isinstance(cookies, dict) else tuple(cookies)
        try:
            conn: Connection = await asyncio.wrap_future(
                runtime.submit(runtime.connect(path, q, c)))
        except TargetUnreachable as exc:
            raise TargetDown(str(exc)) from None
        opened.append(conn)
        return BridgedConnection(runtime, conn)

    yield connect

    async def close_all() -> None:
        for conn in opened:
            await conn.close()

    if opened:
        runtime.call(close_all)
