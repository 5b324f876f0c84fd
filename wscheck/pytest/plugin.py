"""pytest glue: options and ini keys, the bundled suite as test items, the summary.

Everything that decides a verdict lives elsewhere (checks, model, drivers), every setting is
defined and checked in :mod:`wscheck.config.settings`, the fixtures are in
:mod:`wscheck.pytest.fixtures`, the per-check records and reports in
:mod:`wscheck.pytest.collector` and the summary's lines in :mod:`wscheck.pytest.summary`; this
module translates between pytest and the kit. With ``--wscheck-app`` or ``--wscheck-url`` (or
the matching ini keys) the bundled suite is added to whatever pytest collected, even from an
empty directory; without a target the plugin adds nothing and only offers its fixtures.
"""

from __future__ import annotations

import argparse
import contextlib
import warnings
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest

from wscheck.checks.judging import format_failure
from wscheck.config.settings import TABLE, Given, Interface, Settings, resolve, speak_as
from wscheck.config.target import Runtime, load_app
from wscheck.core.limits import printable
from wscheck.drivers.base import Connection, Driver, TargetUnreachable
from wscheck.errors import CheckFailure, TargetDown, UsageError
from wscheck.generation._compat import unsteady_constants
from wscheck.pytest.collector import ReportCollector, check_word, record_property, replay_hint
from wscheck.pytest.fixtures import (
    RUNTIME_KEY,
    SETTINGS_KEY,
    wscheck_connect,
    wscheck_run,
    wscheck_spec,
    wscheck_target,
)
from wscheck.pytest.summary import write_summary
from wscheck.reporting.record import CheckRecord
from wscheck.reporting.redaction import redact_verdict, safe_line, set_log_redaction
from wscheck.run.registry import Check, Context, Outcome, Verdict, suite_checks
from wscheck.run.schedule import Schedule, process_idle

__all__ = ["CheckItem", "WscheckWarning", "wscheck_connect", "wscheck_run", "wscheck_spec",
           "wscheck_target"]

REPORT_KEY = pytest.StashKey[ReportCollector]()
#: The session, and the test item running now (what a watchdog's last words record).
SESSION_KEY = pytest.StashKey[pytest.Session]()
CURRENT_KEY = pytest.StashKey["pytest.Item | None"]()
SCHEDULE_KEY = pytest.StashKey[Schedule]()

#: The hidden option ``wscheck run`` passes, so that messages name its flags, not pytest's.
COMMAND_OPTION = "--wscheck-command"


class WscheckWarning(pytest.PytestWarning):
    """A SHOULD-level check failed: reported, but it does not fail the run unless strict."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every flag and ini key, generated from :data:`wscheck.config.settings.TABLE`."""
    group = parser.getgroup("wscheck", "WebSocket chat protocol conformance (wscheck)")
    for setting in TABLE:
        if setting.switch:
            group.addoption(setting.pytest_flag, dest=setting.dest, action="store_true",
                            default=None, help=setting.help + ".")
            parser.addini(setting.ini_key, setting.help + ".", type="bool", default=False)
        else:
            group.addoption(setting.pytest_flag, dest=setting.dest, default=None,
                            metavar=setting.metavar, help=setting.help + ".")
            parser.addini(setting.ini_key, setting.help + ".", type="string",
                          default=None)
    group.addoption(COMMAND_OPTION, dest="wscheck_command", default=None,
                    help=argparse.SUPPRESS)


def settings_from(config: pytest.Config) -> Settings:
    """The run's settings from flags (which win) and ini keys; labels name what was typed:
    ``wscheck run``'s flags when it started this run, else pytest's, or the ini key."""
    interface: Interface = ("run" if config.getoption("wscheck_command") == "run"
                            else "pytest")
    given: dict[str, Given] = {}
    for setting in TABLE:
        value = config.getoption(setting.dest)
        if value not in (None, ""):
            label = (setting.cli_flag if interface == "run" and setting.cli_flag
                     else setting.pytest_flag)
            given[setting.name] = Given(value, label, None)
            continue
        value = config.getini(setting.ini_key)
        if value not in (None, "", False, []):
            given[setting.name] = Given(value, f"{setting.ini_key} (ini)", config.rootpath)
    return resolve(given, rootdir=config.rootpath, interface=interface)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wscheck(id, level): a bundled wscheck conformance check")
    # A failing 64 KiB message makes Hypothesis warn that its repr is large; the kit prints
    # the conversation itself, clipped, so the warning only adds noise.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")
    try:
        settings = settings_from(config)
        app = load_app(settings.app) if settings.app else None
    except UsageError as exc:  # pytest's own usage error: one line, exit status 4
        raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS_KEY] = settings
    set_log_redaction(not settings.show_credentials)
    if not (settings.app or settings.url):
        return  # no target: no suite, no records, only the fixtures (which say so)
    config.stash[RUNTIME_KEY] = Runtime(settings, app)
    collector = ReportCollector(settings)
    config.stash[REPORT_KEY] = collector
    if not hasattr(config, "workerinput"):  # with xdist, the controller collects
        config.pluginmanager.register(collector, "wscheck-report")
        if settings.app:
            from wscheck.drivers.asgi import on_last_words

            config.add_cleanup(on_last_words(lambda message: _last_words(config, message)))


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SESSION_KEY] = session


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    item.config.stash[CURRENT_KEY] = item


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[CURRENT_KEY] = None  # the reports are being written as usual


def _last_words(config: pytest.Config, message: str) -> list[str]:
    """The watchdog is about to end the process (an in-process app blocked the loop in a
    call nothing interrupts): record the running test as failed with the watchdog's message
    and stack, and end the session as pytest would, so that the JSON, HTML and JUnit XML
    reports are written and complete. Runs on the watchdog's side thread, while the main
    thread waits on the blocked loop; returns the lines to print."""
    session = config.stash.get(SESSION_KEY, None)
    item = config.stash.get(CURRENT_KEY, None)
    if session is None or item is None:
        return []  # before the session, or the reports are written already
    capman = config.pluginmanager.get_plugin("capturemanager")
    if capman is not None:  # what is printed from here on reaches the terminal
        with contextlib.suppress(Exception):
            capman.suspend_global_capture(in_=True)
    text = f"wscheck: {message}"
    properties = list(item.user_properties)
    if isinstance(item, CheckItem):
        properties.append(record_property(CheckRecord.of(item.check, Outcome.FAIL)))
    keywords: dict[str, Any] = dict.fromkeys(item.keywords, 1)
    for when, outcome in (("call", "failed"), ("teardown", "passed")):
        config.hook.pytest_runtest_logreport(report=pytest.TestReport(
            item.nodeid, item.location, keywords, outcome,  # type: ignore[arg-type]
            text if when == "call" else None, when,  # type: ignore[arg-type]
            user_properties=properties))
    session.shouldfail = "wscheck: the app blocked the event loop"
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.hook.pytest_sessionfinish(session=session, exitstatus=session.exitstatus)
    return []


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # The last check is over: the session's other tests see Hypothesis's local constants
    # as Hypothesis keeps them (held still while the checks ran: see _hypothesis_compat).
    if isinstance(item, CheckItem) and not isinstance(nextitem, CheckItem):
        unsteady_constants()


def pytest_unconfigure(config: pytest.Config) -> None:
    set_log_redaction(False)
    unsteady_constants()
    collector = config.stash.get(REPORT_KEY, None)
    if collector is not None and config.pluginmanager.is_registered(collector):
        config.pluginmanager.unregister(collector)
    runtime = config.stash.get(RUNTIME_KEY, None)
    if runtime is not None:
        schedule = config.stash.get(SCHEDULE_KEY, None)
        try:
            if schedule is not None:  # checks still running when the run ended early
                runtime.call(schedule.cancel)
        finally:
            runtime.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or RUNTIME_KEY not in config.stash:
        return None
    kind = "in-process ASGI" if settings.app else "network"
    suite = "" if settings.suite == "chat" else f"suite {settings.suite}, "
    return (f"wscheck: {kind} target {settings.target}, {suite}spec {settings.spec.digest()}, "
            f"timeout {settings.timeout:g}s, {settings.examples} examples per property"
            f"{', strict' if settings.strict else ''}")


def _is_property(chk: Check) -> bool:
    """A generated-property check (``prop.*``, and an AsyncAPI document's ``.prop`` and
    ``asyncapi.stateful``): its connections are counted for its progress lines."""
    return chk.id.startswith("prop.") or (chk.area == "asyncapi"
                                          and chk.id.endswith((".prop", ".stateful")))


class WscheckSuite(pytest.Collector):
    """The bundled conformance suite: one item per check."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        settings = self.config.stash[SETTINGS_KEY]
        return [CheckItem.from_parent(self, name=c.id, check=c)
                for c in suite_checks(settings.suite, settings.spec)]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if RUNTIME_KEY not in config.stash or config.stash[SETTINGS_KEY].no_suite:
        return
    suite = WscheckSuite.from_parent(session, name="wscheck", nodeid="wscheck")
    report = pytest.CollectReport(suite.nodeid, "passed", None, suite.collect())
    config.hook.pytest_collectreport(report=report)
    suite_items = [i for i in report.result if isinstance(i, CheckItem)]
    if config.stash[SETTINGS_KEY].concurrency > 1:
        # The checks that wait on the clock start first (see _schedule) and are reported
        # last, so that their seconds overlap the rest of the suite's; the reports list the
        # checks in suite order all the same.
        suite_items = ([i for i in suite_items if not i.check.waits]
                       + [i for i in suite_items if i.check.waits])
    # A check that takes the target past counts no other reaches runs after them all.
    suite_items.sort(key=lambda i: i.check.last)
    items[:0] = suite_items


class CheckItem(pytest.Item):
    """One bundled check as a pytest test (node id ``wscheck::<check id>``)."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.counter: _CountingDriver | None = None
        self.add_marker(pytest.mark.wscheck(check.id, check.level))
        self.user_properties.append(("wscheck_id", check.id))
        self.user_properties.append(("wscheck_level", check.level))
        known = self.config.stash[SETTINGS_KEY].known_failures
        if check.id in known:
            # Strict: once the check passes the run fails, so the list never rots.
            self.add_marker(pytest.mark.xfail(
                reason=f"known failure (listed in {known[check.id]})", strict=True,
                raises=CheckFailure))

    def context(self) -> Context:
        """What the check runs with; a property check's driver counts the connections it
        opens, for its progress lines."""
        runtime = self.config.stash[RUNTIME_KEY]
        settings = runtime.settings
        assert runtime.driver is not None
        driver: Driver = runtime.driver
        if _is_property(self.check):
            self.counter = driver = _CountingDriver(driver)
        return Context(settings.spec, driver, settings.examples, settings.concurrency,
                       settings.idle_watch,
                       raw=runtime.raw if self.check.suite == "rfc6455" else None)

    def _attach(self, record: CheckRecord) -> None:
        self.user_properties.append(record_property(record))

    def runtest(self) -> None:
        settings = self.config.stash[RUNTIME_KEY].settings
        reason = self.check.not_applicable(settings.spec)
        if reason:
            self._attach(CheckRecord.of(self.check, Outcome.NOT_APPLICABLE))
            pytest.skip(f"not applicable: {reason}")
        try:
            verdict = self._verdict()
        except TargetDown:
            self.session.shouldfail = "wscheck: the target does not answer (see the first failure)"
            raise
        if verdict.not_applicable is not None:  # UNIMPLEMENTED: found out by running it
            self._attach(CheckRecord.of(self.check, Outcome.NOT_APPLICABLE, verdict, verdict))
            pytest.skip(f"not applicable: {verdict.not_applicable}")
        word = check_word(self.check, verdict, listed=self.check.id in settings.known_failures,
                          strict=settings.strict)
        # Redacted once: everything shown from here on (terminal, JUnit, warnings, reports)
        # has credentials masked.
        shown = redact_verdict(verdict, settings.spec, show_credentials=settings.show_credentials)
        self.user_properties.append(("wscheck_verdict", word.value))
        for note in shown.notes:
            self.user_properties.append(("wscheck_note", note))
        replay = replay_hint(settings, self.check, shown) if verdict.problem else None
        self._attach(CheckRecord.of(self.check, word, verdict, shown, replay))
        self._show(word, shown, replay)

    def _verdict(self) -> Verdict:
        """The check's verdict; :class:`TargetDown` when the target does not answer, before
        the check or during it."""
        runtime = self.config.stash[RUNTIME_KEY]
        settings = runtime.settings
        runtime.ensure_up()
        assert runtime.driver is not None
        schedule = _schedule(self)
        try:
            if schedule is not None:
                verdict = _run_with_progress(self, runtime,
                                             lambda: schedule.verdict(self.check.id))
            else:
                ctx = self.context()
                verdict = _run_with_progress(self, runtime, lambda: self.check.run(ctx))
        except TargetUnreachable as exc:  # it answered the probe, then went away
            raise TargetDown(speak_as(str(exc), settings.interface)) from None
        # The target went mute during the check (network driver): whatever the check made of
        # the exception (a property's replay, say), this is what its verdict means.
        stopped = getattr(runtime.driver, "stopped_answering", None)
        if stopped:
            raise TargetDown(speak_as(stopped, settings.interface))
        return verdict

    def _show(self, word: Outcome, shown: Verdict, replay: str | None) -> None:
        """The verdict as pytest shows it: a pass passes, an inconclusive check is skipped
        with its reason (JUnit shows it so), a warning warns and a failure fails."""
        if word is Outcome.INCONCLUSIVE:
            pytest.skip(f"inconclusive: {shown.inconclusive}")
        if word not in (Outcome.WARN, Outcome.FAIL, Outcome.XFAIL):
            return  # a pass: nothing to show, so nothing formatted
        text = printable(format_failure(self.check, shown), keep_newlines=True)
        if replay:
            text += "\n\nreplay: " + replay
        if word is Outcome.WARN:
            warnings.warn(WscheckWarning(text), stacklevel=1)
        else:
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
    """The run's summary under pytest's (see :mod:`wscheck.pytest.summary`)."""
    collector = config.stash.get(REPORT_KEY, None)
    if collector is not None:
        write_summary(terminalreporter, collector, config.stash[SETTINGS_KEY])


# --- progress of long property checks ----------------------------------------------------------

#: Seconds between progress lines of a long property check (none for a shorter one).
PROGRESS_INTERVAL = 2.0


class _CountingDriver:
    """The run's driver, counting the connections a check opens (progress of properties)."""

    def __init__(self, driver: Driver) -> None:
        #: What it stands for: shared state of a target (a room's lock) is keyed on that.
        self.wraps = driver
        self.kind = driver.kind
        self.target = driver.target
        self.timeout = driver.timeout
        self.replies = getattr(driver, "replies", None)  # for bounded replays while shrinking
        self.connections = 0

    async def connect(self, path: str, query: Sequence[tuple[str, str]] = (),
                      cookies: Sequence[tuple[str, str]] = (), *,
                      origin: bool = False) -> Connection:
        self.connections += 1
        return await self.wraps.connect(path, query, cookies, origin=origin)

    async def aclose(self) -> None:  # pragma: no cover - the runtime closes the real driver
        await self.wraps.aclose()


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


def _schedule(item: CheckItem) -> Schedule | None:
    """The run's schedule (see :mod:`wscheck.run.schedule`), made and started by the first check
    item that runs, over every check item pytest kept (deselected ones are not in
    ``session.items``). None, so that each check runs at its turn, with a concurrency of 1
    and on an xdist worker (which is given its items one batch at a time)."""
    config = item.config
    settings = config.stash[SETTINGS_KEY]
    if settings.concurrency <= 1 or hasattr(config, "workerinput"):
        return None
    schedule = config.stash.get(SCHEDULE_KEY, None)
    if schedule is None:
        checks = [(other.check, other.context()) for other in item.session.items
                  if isinstance(other, CheckItem)
                  and not other.check.not_applicable(settings.spec)]
        # Over a network every check mostly waits, so all start at once. In-process silence
        # is known at once and the app shares the kit's CPU: only the checks that wait on the
        # clock start early, the others run at their turn beside them, or ahead of it while
        # the process sits idle (an app slow to answer).
        early = None if settings.url else {chk.id for chk, _ in checks if chk.waits}
        schedule = config.stash[SCHEDULE_KEY] = Schedule(
            checks, settings.concurrency, early,
            ahead_when=None if settings.url else process_idle())

        async def start() -> None:
            schedule.start()

        config.stash[RUNTIME_KEY].call(start)
    return schedule


def _run_with_progress(item: CheckItem, runtime: Runtime,
                       verdict: Callable[[], Coroutine[Any, Any, Verdict]]) -> Verdict:
    """Wait for the check's ``verdict()``; a property check that takes a while shows how far
    it got every :data:`PROGRESS_INTERVAL` seconds (``prop.conversation: 40 conversations,
    4s``)."""
    reporter = _progress_reporter(item.config) if _is_property(item.check) else None
    if reporter is None:
        return runtime.call(verdict)
    import concurrent.futures
    import time

    start = time.monotonic()
    future = runtime.submit(verdict())
    settings = runtime.settings
    while True:
        done, _ = concurrent.futures.wait([future], timeout=PROGRESS_INTERVAL)
        if done:
            return future.result()
        opened = item.counter.connections if item.counter is not None else 0
        line = (f"  {item.check.id}: {opened} conversations, "
                f"{time.monotonic() - start:.0f}s (up to {settings.examples} examples)")
        # Output capture is on while a test runs: step around it, as live logging does.
        capman = item.config.pluginmanager.get_plugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            reporter.write_line(line)
