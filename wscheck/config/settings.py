"""One table of settings, and the one place their values are checked.

Every interface is generated from :data:`TABLE`: the options of ``wscheck run``, the pytest
options and ini keys, the forwarding from ``wscheck run`` to pytest, the options ``wscheck
load`` shares with a suite run (rows marked ``load``), and (checked by tests) the options
tables of the README and docs/load.md. What only ``wscheck load`` takes (users, run time,
Locust's processes and reports) is the small :data:`LOAD_TABLE` beside it, read by the same
code. A value is
validated once, by :func:`check_values`, and a bad one is refused in the words the user
typed: ``--timeout`` when typed to ``wscheck run`` or ``wscheck load``, ``--wscheck-timeout``
under pytest, ``wscheck_timeout (ini)`` from an ini file, the field of a report that
``wscheck replay`` read it from. (Schemathesis's single configuration object, which the CLI
only overrides, is the model.)

This module does not import pytest: the ``wscheck`` command uses it before pytest starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wscheck.config.values import (
    byte_size,
    ca_bundle,
    conversation_file,
    count,
    integer,
    processes,
    rate,
    report_file,
    run_time,
    seconds,
    suite_name,
    text,
    ws_url,
)
from wscheck.core.defaults import (
    DEFAULT_CONCURRENCY,
    DEFAULT_EXAMPLES_ASGI,
    DEFAULT_EXAMPLES_URL,
    DEFAULT_IDLE_WATCH,
    DEFAULT_QUIET_WINDOW,
    DEFAULT_RUN_TIME,
    DEFAULT_TIMEOUT,
    DEFAULT_USERS,
)
from wscheck.core.spec import Spec
from wscheck.drivers.base import MAX_MESSAGE_SIZE
from wscheck.errors import SettingError, SpecError

__all__ = [
    "LOAD_TABLE",
    "TABLE",
    "Given",
    "Interface",
    "LoadSettings",
    "Setting",
    "Settings",
    "check_values",
    "flag_for",
    "load_options",
    "load_options_markdown",
    "options_markdown",
    "resolve",
    "resolve_load",
    "speak_as",
]

#: Which interface the user speaks: pytest's ``--wscheck-*`` flags, or the ``wscheck``
#: command's (``run``, ``replay`` and ``load`` spell a setting alike).
Interface = Literal["pytest", "run"]


@dataclass(frozen=True)
class Setting:
    """One row of the table. ``name`` is the :class:`Settings` attribute (of
    :class:`LoadSettings` for a row of :data:`LOAD_TABLE`); the flags and ini key are derived
    from it so that they cannot disagree."""

    name: str
    help: str
    #: None for a switch (a boolean that a flag turns on).
    parse: Callable[[object], Any] | None
    metavar: str = ""
    #: Offered by ``wscheck run`` (as :attr:`flag`).
    cli: bool = True
    #: A file: relative to the current directory for a flag, to the rootdir for an ini key.
    path: bool = False
    #: A row of :data:`TABLE` that ``wscheck load`` takes too (as :attr:`flag`).
    load: bool = False
    #: The help under ``wscheck load``, where it means something else than in a suite run.
    load_help: str = ""

    @property
    def switch(self) -> bool:
        return self.parse is None

    @property
    def flag(self) -> str:
        """The ``wscheck`` command's flag: ``--<name>``."""
        return "--" + self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str | None:
        return self.flag if self.cli else None

    @property
    def pytest_flag(self) -> str:
        return "--wscheck-" + self.name.replace("_", "-")

    @property
    def ini_key(self) -> str:
        return "wscheck_" + self.name

    @property
    def dest(self) -> str:
        """The pytest option's ``dest``: the ini key, so both read alike."""
        return self.ini_key


TABLE: tuple[Setting, ...] = (
    Setting("app", "ASGI app to check in-process: MODULE:ATTR or MODULE:factory() (wscheck "
            "run's default: the reference app)", text, "MODULE:ATTR"),
    Setting("url", "live server to check over the network: ws://HOST:PORT[/prefix] or "
            "wss://...", ws_url, "ws://HOST:PORT", load=True,
            load_help="the server to load: ws://HOST:PORT[/prefix] or wss://... (required)"),
    Setting("suite", "bundled suite to run: chat (the chat protocol, default), rfc6455 "
            "(RFC 6455 itself against an echo endpoint at the URL, docs/rfc6455.md) or all",
            suite_name, "SUITE"),
    Setting("spec", "protocol description: TOML, or an AsyncAPI 3.0 document (YAML or JSON); "
            "default [tool.wscheck] in the rootdir's pyproject.toml, else the reference "
            "protocol", text, "FILE", path=True,
            load=True, load_help="protocol description (TOML); default [tool.wscheck] in "
            "./pyproject.toml, else the reference protocol"),
    Setting("timeout", f"seconds any single wait may take (default {DEFAULT_TIMEOUT:g})",
            seconds, "SECONDS", load=True),
    Setting("quiet_window", f"seconds to wait for unexpected messages (default "
            f"{DEFAULT_QUIET_WINDOW:g}; in-process, silence is usually known at once)",
            seconds, "SECONDS", load=True,
            load_help=f"seconds each conversation listens for anything unexpected at its end "
                      f"(default {DEFAULT_QUIET_WINDOW:g})"),
    Setting("idle_watch", f"seconds echo.idle watches an idle connection and bye.after-pause "
            f"pauses before the bye word (default {DEFAULT_IDLE_WATCH:g}; in-process, an idle "
            "app is known at once, a pause is always real)", seconds, "SECONDS"),
    Setting("examples", f"generated examples per property check (default "
            f"{DEFAULT_EXAMPLES_ASGI} in-process, {DEFAULT_EXAMPLES_URL} over the network; "
            "prop.stateful runs half as many state-machine runs of up to 20 steps, "
            "prop.concurrent a quarter as many examples of several clients, "
            "prop.broadcast a third as many room scenarios of up to 36 steps)",
            count, "N"),
    Setting("concurrency", f"checks, the conversations of one check and the examples of one "
            "property run at the same time "
            f"(default {DEFAULT_CONCURRENCY}; 1 runs everything one after another, for targets "
            "that limit connections)", count, "N"),
    Setting("max_message_size", f"largest message accepted from the target, in bytes "
            f"(default {MAX_MESSAGE_SIZE}: 16 MiB); a larger one fails the connection (1009), "
            "reported as the target's fault", byte_size, "BYTES"),
    Setting("strict", "SHOULD failures fail the run too", None),
    Setting("ca_file", "CA bundle (PEM) to trust for wss://", ca_bundle, "FILE.pem", path=True,
            load=True),
    Setting("report", "write a JSON report (schema: docs/report-schema.md), even when checks "
            "fail", report_file, "FILE.json", path=True, load=True,
            load_help="write wscheck's verdict as JSON (counts per kind, the examples)"),
    Setting("html", "write a self-contained HTML report", report_file, "FILE.html",
            path=True),
    Setting("xfail", "known failures: a file of check ids, one a line (# comments)", text,
            "FILE", path=True),
    Setting("show_credentials", "show token and cookie values wherever they reappear "
            "(terminal, JUnit, reports; masked by default: t•••)", None),
    Setting("no_suite", "configure the target for the fixtures only, without the bundled "
            "suite", None, cli=False),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in TABLE}

#: What only ``wscheck load`` takes; with the rows of :data:`TABLE` marked ``load``, its
#: options (:func:`load_options`). Locust's own reports are named as Locust's: ``--html``
#: is wscheck's HTML report in ``wscheck run``.
LOAD_TABLE: tuple[Setting, ...] = (
    Setting("users", f"simulated users, each running conversations back to back (default "
            f"{DEFAULT_USERS})", count, "N"),
    Setting("spawn_rate", "users started per second (default: all at once)", rate, "R"),
    Setting("run_time", f"how long: 30, 30s, 2m, 1h30m (default {DEFAULT_RUN_TIME:g}s)",
            run_time, "T"),
    Setting("processes", "Locust worker processes on this machine (-1: one per CPU; "
            "default: one process, no master)", processes, "K"),
    Setting("long_messages", "keep the echo generator's 64 KiB messages (off: they measure "
            "bandwidth, not conformance)", None),
    Setting("seed", "seed of the conversation generators (default: random)", integer, "N"),
    Setting("replay", "every user runs only this conversation (a failing run writes one per "
            "kind of difference and prints the command)", conversation_file, "FILE.json",
            path=True),
    Setting("csv", "Locust's CSV statistics (PREFIX_stats.csv, ...)", text, "PREFIX"),
    Setting("locust_html", "Locust's HTML report", text, "FILE.html"),
)

LOAD_BY_NAME: dict[str, Setting] = {s.name: s for s in LOAD_TABLE}


def load_options() -> tuple[Setting, ...]:
    """The options of ``wscheck load``: the shared rows of :data:`TABLE`, then its own."""
    return (*(s for s in TABLE if s.load), *LOAD_TABLE)


def options_markdown() -> str:
    """The README's options table, generated from :data:`TABLE` (a test keeps them equal)."""
    lines = ["| pytest flag / ini key | `wscheck run` | meaning |", "| --- | --- | --- |"]
    for s in TABLE:
        run = f"`{s.cli_flag}`" if s.cli_flag else "-"
        value = "" if s.switch else f" {s.metavar}"
        lines.append(f"| `{s.pytest_flag}{value}` / `{s.ini_key}` | {run} | {s.help} |")
    return "\n".join(lines) + "\n"


def load_options_markdown() -> str:
    """docs/load.md's options table, generated from the same rows (a test keeps them equal)."""
    lines = ["| option | meaning |", "| --- | --- |"]
    for s in load_options():
        value = "" if s.switch else f" {s.metavar}"
        lines.append(f"| `{s.flag}{value}` | {s.load_help or s.help} |")
    return "\n".join(lines) + "\n"


def flag_for(name: str, interface: Interface) -> str:
    """The flag that sets ``name`` in this interface (``--report`` or ``--wscheck-report``)."""
    setting = BY_NAME[name]
    if interface == "run" and setting.cli_flag:
        return setting.cli_flag
    return setting.pytest_flag


def speak_as(message: str, interface: Interface) -> str:
    """A message that names pytest flags, rewritten to name the flags of ``interface``: the
    drivers speak pytest's language, and a hint must work where it is printed."""
    if interface == "pytest":
        return message
    for setting in sorted(TABLE, key=lambda s: -len(s.pytest_flag)):
        if setting.cli_flag:
            message = message.replace(setting.pytest_flag, setting.cli_flag)
    return message


@dataclass(frozen=True)
class Given:
    """A value as the user gave it, and where: the label errors use, and the directory a
    relative path is relative to (None: as typed, relative to the current directory, so
    that messages and hints show the path the user wrote)."""

    value: object
    label: str
    base: Path | None = None


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides the checks; at most one of ``app``/``url`` is set."""

    spec: Spec = field(default_factory=Spec)
    app: str | None = None
    url: str | None = None
    #: The bundled suite: ``chat``, ``rfc6455`` or ``all``.
    suite: str = "chat"
    timeout: float = DEFAULT_TIMEOUT
    quiet_window: float = DEFAULT_QUIET_WINDOW
    idle_watch: float = DEFAULT_IDLE_WATCH
    ca_file: str | None = None
    strict: bool = False
    examples: int = DEFAULT_EXAMPLES_ASGI
    concurrency: int = DEFAULT_CONCURRENCY
    max_message_size: int = MAX_MESSAGE_SIZE
    report: str | None = None
    html: str | None = None
    show_credentials: bool = False
    no_suite: bool = False
    #: Known failures: check id -> where it is listed.
    known_failures: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: Where the spec came from ("" for the reference protocol).
    spec_source: str = ""
    #: The interface the user speaks, for hints: ``wscheck run`` or pytest.
    interface: Interface = "pytest"

    @property
    def target(self) -> str:
        return self.app or self.url or "<none>"

    def flag(self, name: str) -> str:
        """The flag for setting ``name`` in the interface the user speaks."""
        return flag_for(name, self.interface)


def check_values(given: Mapping[str, Given], rows: Mapping[str, Setting]) -> dict[str, Any]:
    """Every given value through its row's parser, by name; an unset one (``None``, ``""``,
    ``False``) is left out, and a bad one is a :class:`SettingError` naming its label."""
    values: dict[str, Any] = {}
    for name, item in given.items():
        setting = rows[name]
        if item.value in (None, "", False):
            continue
        if setting.switch:
            values[name] = bool(item.value)
            continue
        raw = item.value
        if setting.path and item.base is not None and isinstance(raw, str) and raw:
            raw = str(item.base / raw)  # an absolute path stays itself
        assert setting.parse is not None
        try:
            values[name] = setting.parse(raw)
        except ValueError as exc:
            raise SettingError(f"{item.label} {exc}") from None
    return values


def resolve(given: Mapping[str, Given], *, rootdir: Path, interface: Interface = "pytest",
            spec: Spec | None = None) -> Settings:
    """Check every given value and build the :class:`Settings`; raises :class:`SettingError`
    or :class:`SpecError` (both usage errors) with one line naming what the user typed.

    ``rootdir`` is where ``pyproject.toml``'s ``[tool.wscheck]`` is looked for when no spec
    is given; a ``spec`` passed in (a report's) is used as it is. Unset values are simply
    absent from ``given`` (or ``None``/``""``/``False``).
    """
    values = check_values(given, BY_NAME)
    if values.get("app") and values.get("url"):
        raise SettingError(f"give either {given['app'].label} or {given['url'].label}, not "
                           "both (one target per run)")
    if "examples" not in values:
        values["examples"] = (DEFAULT_EXAMPLES_URL if values.get("url")
                              else DEFAULT_EXAMPLES_ASGI)
    known: tuple[str, ...] = ()
    if spec is not None:
        spec_source = "given"
    else:
        spec, known, spec_source = _spec_and_known(values.pop("spec", None), rootdir)
    xfail = values.pop("xfail", None)
    values["known_failures"] = _known_failures(known, spec_source, xfail, spec)
    return Settings(spec=spec, spec_source=spec_source, interface=interface, **values)


@dataclass(frozen=True)
class LoadSettings:
    """Everything ``wscheck load`` needs: the settings a suite run has too (the target,
    spec, timeout, quiet window, CA bundle and report, checked by :func:`resolve`) and its
    own (:data:`LOAD_TABLE`)."""

    settings: Settings
    #: The file the spec was read from (given, or the rootdir's ``pyproject.toml``), or None
    #: for the reference protocol: Locust's processes read it again.
    spec_file: str | None
    spawn_rate: float
    users: int = DEFAULT_USERS
    run_time: float = DEFAULT_RUN_TIME
    processes: int | None = None
    long_messages: bool = False
    seed: int | None = None
    replay: str | None = None
    csv: str | None = None
    locust_html: str | None = None

    @property
    def url(self) -> str:
        assert self.settings.url is not None
        return self.settings.url


def resolve_load(given: Mapping[str, Given], *, rootdir: Path) -> LoadSettings:
    """Check ``wscheck load``'s values, as :func:`resolve` checks a run's: the shared ones
    by :func:`resolve` itself, its own by the same :func:`check_values`."""
    shared = {name: item for name, item in given.items() if name in BY_NAME}
    if not any(name == "url" and item.value for name, item in shared.items()):
        raise SettingError("--url is required: the server to load, ws://HOST:PORT[/prefix] "
                           "or wss://...")
    settings = resolve(shared, rootdir=rootdir, interface="run")
    own = check_values({n: i for n, i in given.items() if n not in BY_NAME}, LOAD_BY_NAME)
    spec_file: str | None = None
    if settings.spec_source:  # the file named, or [tool.wscheck] of the rootdir's pyproject
        spec = shared.get("spec")
        spec_file = str(spec.value) if spec is not None and spec.value else str(
            rootdir / "pyproject.toml")
    own.setdefault("spawn_rate", float(own.get("users", DEFAULT_USERS)))
    return LoadSettings(settings, spec_file, **own)


def _spec_and_known(path: str | None, rootdir: Path) -> tuple[Spec, tuple[str, ...], str]:
    """The spec file given, else ``[tool.wscheck]`` in the rootdir's ``pyproject.toml``, else
    the reference protocol; with the ``expected_failures`` it lists and where it came from."""
    from wscheck.config.known import load_spec_and_known

    if path:
        return (*load_spec_and_known(path), path)
    pyproject = rootdir / "pyproject.toml"
    try:
        has_table = pyproject.is_file() and "[tool.wscheck" in pyproject.read_text(
            encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{pyproject} cannot be read: {exc}") from None
    if has_table:
        return (*load_spec_and_known(pyproject), f"{pyproject} [tool.wscheck]")
    return Spec(), (), ""


def _known_failures(from_spec: tuple[str, ...], spec_source: str,
                    xfail: str | None, spec: Spec) -> dict[str, str]:
    """Known failures (check id -> where it is listed) from the spec and the xfail file; an id
    that names no check is a usage error, so a list cannot rot unnoticed."""
    from wscheck.config.known import KEY, read_xfail_file, unknown_ids

    sources = [(i, f"{KEY} of {spec_source}") for i in from_spec]
    if xfail:
        sources += [(i, xfail) for i in read_xfail_file(xfail)]
    for check_id, source in sources:
        if unknown_ids([check_id], spec):
            raise SettingError(f"unknown check id {check_id!r} in the known failures "
                               f"({source}); `wscheck checks` lists the ids")
    return dict(sources)
