"""pytest glue: options, ini keys, the bundled suite as test items, fixtures, the summary.

Everything that decides a verdict lives elsewhere (checks, model, drivers); this module only
translates between pytest and the kit. With ``--wscheck-app`` or ``--wscheck-url`` (or the
matching ini keys) the bundled suite is added to whatever pytest collected, even from an empty
directory; without a target the plugin adds nothing and only offers its fixtures.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from wscheck.checks import Check, Verdict, all_checks, format_failure
from wscheck.drivers.base import Connection
from wscheck.events import Conversation, Event
from wscheck.runner import Observation
from wscheck.spec import Spec, SpecError, load_spec
from wscheck.target import Runtime, Settings, TargetDown, TargetError, load_app

__all__ = ["CheckItem", "WscheckWarning"]

SETTINGS_KEY = pytest.StashKey[Settings]()
RUNTIME_KEY = pytest.StashKey[Runtime]()
RESULTS_KEY = pytest.StashKey[list[tuple[Check, str, Verdict | None]]]()

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


def resolve_spec(config: pytest.Config) -> Spec:
    """The spec file named by option or ini key, else ``[tool.wscheck]`` in the rootdir's
    pyproject.toml, else the reference protocol."""
    raw, where = _value(config, "wscheck_spec")
    try:
        if raw:
            base = config.rootpath if where.endswith("(ini)") else Path.cwd()
            path = (base / raw) if not Path(raw).is_absolute() else Path(raw)
            return load_spec(path)
        pyproject = config.rootpath / "pyproject.toml"
        if pyproject.is_file() and "[tool.wscheck" in pyproject.read_text(encoding="utf-8"):
            return load_spec(pyproject)
    except SpecError as exc:
        raise pytest.UsageError(str(exc)) from None
    return Spec()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wscheck(id, level): a bundled wscheck conformance check")
    app_ref, _ = _value(config, "wscheck_app")
    url, _ = _value(config, "wscheck_url")
    if app_ref and url:
        raise pytest.UsageError(
            "give either --wscheck-app or --wscheck-url, not both (one target per run)")
    strict_flag = config.getoption("wscheck_strict")
    settings = Settings(
        spec=resolve_spec(config),
        app=app_ref or None,
        url=url or None,
        timeout=_seconds(config, "wscheck_timeout", DEFAULT_TIMEOUT),
        quiet_window=_seconds(config, "wscheck_quiet_window", DEFAULT_QUIET_WINDOW),
        ca_file=_value(config, "wscheck_ca_file")[0] or None,
        strict=bool(strict_flag if strict_flag is not None else config.getini("wscheck_strict")),
        examples=_examples(config, DEFAULT_EXAMPLES_URL if url and not app_ref
                           else DEFAULT_EXAMPLES_ASGI),
    )
    config.stash[SETTINGS_KEY] = settings
    config.stash[RESULTS_KEY] = []
    app = None
    try:
        if settings.app:
            app = load_app(settings.app)
        elif settings.url:
            from wscheck.drivers.url import parse_target_url

            parse_target_url(settings.url)
    except (TargetError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.app or settings.url:
        config.stash[RUNTIME_KEY] = Runtime(settings, app)


def pytest_unconfigure(config: pytest.Config) -> None:
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


class CheckFailure(AssertionError):
    """A check's verdict was a failure; carries what ``repr_failure`` prints."""


class CheckItem(pytest.Item):
    """One bundled check as a pytest test (node id ``wscheck::<check id>``)."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(pytest.mark.wscheck(check.id, check.level))
        self.user_properties.append(("wscheck_id", check.id))
        self.user_properties.append(("wscheck_level", check.level))

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
        verdict = runtime.call(self.check.run, ctx)
        outcome = ("pass" if verdict.passed else
                   "warn" if self.check.level == "SHOULD" and not runtime.settings.strict
                   else "fail")
        results.append((self.check, outcome, verdict))
        self.user_properties.append(("wscheck_verdict", outcome))
        for note in verdict.notes:
            self.user_properties.append(("wscheck_note", note))
        if outcome == "warn":
            warnings.warn(WscheckWarning(format_failure(self.check, verdict)), stacklevel=1)
        elif outcome == "fail":
            raise CheckFailure(format_failure(self.check, verdict))

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str:
        if isinstance(excinfo.value, CheckFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, TargetDown):
            return f"wscheck: the target does not answer: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"wscheck {self.check.id} [{self.check.level}]"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
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
    for chk, outcome, verdict in results:
        if outcome in ("fail", "warn"):
            assert verdict is not None
            terminalreporter.write_line(f"{outcome.upper():5} {chk.id} [{chk.level}]: "
                                        f"{verdict.problem}")
        elif verdict is not None:
            for note in verdict.notes:
                terminalreporter.write_line(f"NOTE  {chk.id}: {note}")


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
        return runtime.call(runtime.run, conversation)

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
        conn: Connection = await asyncio.wrap_future(runtime.submit(runtime.connect(path, q, c)))
        opened.append(conn)
        return BridgedConnection(runtime, conn)

    yield connect

    async def close_all() -> None:
        for conn in opened:
            await conn.close()

    if opened:
        runtime.call(close_all)
