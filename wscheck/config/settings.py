"""One table of settings, and the one place their values are checked.

Every interface is generated from :data:`TABLE`: the options of ``wscheck run``, the pytest
options and ini keys, the forwarding from ``wscheck run`` to pytest, and (checked by a test)
the README's options table. A value is validated once, by :func:`resolve`, and a bad one is
refused in the words the user typed: ``--timeout`` when typed to ``wscheck run``,
``--wscheck-timeout`` under pytest, ``wscheck_timeout (ini)`` from an ini file, the field of a
report that ``wscheck replay`` read it from. (Schemathesis's single configuration object,
which the CLI only overrides, is the model.)

This module does not import pytest: the ``wscheck`` command uses it before pytest starts.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wscheck.core.spec import Spec
from wscheck.drivers.base import MAX_MESSAGE_SIZE
from wscheck.errors import SettingError, SpecError

__all__ = [
    "TABLE",
    "Given",
    "Interface",
    "Setting",
    "Settings",
    "flag_for",
    "options_markdown",
    "resolve",
    "speak_as",
]

#: Which interface the user speaks: pytest's ``--wscheck-*`` flags or ``wscheck run``'s.
Interface = Literal["pytest", "run"]

#: Upper bound of every duration: an hour is far more than any wait the kit needs.
MAX_SECONDS = 3600.0

DEFAULT_TIMEOUT = 2.0
DEFAULT_QUIET_WINDOW = 0.2
#: Seconds the time probes watch an idle connection or pause (echo.idle, bye.after-pause).
DEFAULT_IDLE_WATCH = 2.0
DEFAULT_EXAMPLES_ASGI = 100
DEFAULT_EXAMPLES_URL = 25
#: Conversations of one check run at once: enough to overlap the quiet windows of a check's
#: conversations, few enough for any server that serves concurrent clients at all.
DEFAULT_CONCURRENCY = 8


# --- parsers: a value as given (text, or a number from a report) -> the value, or ValueError
# whose message completes "<flag> ..." ------------------------------------------------------


def seconds(raw: object) -> float:
    """A duration: finite, more than 0 and at most an hour."""
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise ValueError(f"must be more than 0 and at most {MAX_SECONDS:g} seconds, "
                         f"got {raw!r}")
    return value


def count(raw: object) -> int:
    """A whole number of at least 1."""
    if isinstance(raw, bool):
        raise ValueError(f"must be a whole number, got {raw!r}")
    try:
        value = int(raw) if isinstance(raw, (int, str)) else None
    except ValueError:
        value = None
    if value is None:
        raise ValueError(f"must be a whole number, got {raw!r}")
    if value < 1:
        raise ValueError(f"must be at least 1, got {raw!r}")
    return value


#: Smallest ``max_message_size`` accepted: a reply to a 64 KiB message must fit, with room.
MIN_MESSAGE_SIZE = 128 * 1024
#: Largest ``max_message_size`` accepted: beyond it one hostile reply could exhaust memory.
MAX_MESSAGE_SIZE_LIMIT = 1024 * 1024 * 1024


def byte_size(raw: object) -> int:
    """A size in bytes, from 128 KiB (a reply to the protocol's 64 KiB message fits) to 1 GiB."""
    value = count(raw)
    if not MIN_MESSAGE_SIZE <= value <= MAX_MESSAGE_SIZE_LIMIT:
        raise ValueError(f"must be between {MIN_MESSAGE_SIZE} and {MAX_MESSAGE_SIZE_LIMIT} "
                         f"bytes, got {raw!r}")
    return value


def text(raw: object) -> str:
    """A non-empty string."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"must not be empty, got {raw!r}")
    return raw


def ws_url(raw: object) -> str:
    """A ``ws://`` or ``wss://`` target URL, as the network driver accepts it."""
    from wscheck.drivers.url import parse_target_url

    url = text(raw)
    try:
        parse_target_url(url)
    except SettingError as exc:
        # The driver names its pytest flag; the caller names the one the user typed.
        raise ValueError(str(exc).removeprefix("--wscheck-url ")) from None
    return url


def report_file(raw: object) -> str:
    """Where a report goes: a regular file or nothing yet. A symbolic link, FIFO, device or
    directory is refused, since a report replaces the file at its path as a whole."""
    from wscheck.core.limits import check_report_path

    path = text(raw)
    try:
        check_report_path(path, "")
    except SettingError as exc:
        raise ValueError(str(exc).strip()) from None
    return path


def ca_bundle(raw: object) -> str:
    """A PEM file of CA certificates, loaded now, so that a wrong file is one line at the
    start instead of a TLS failure in every check."""
    path = text(raw)
    if not Path(path).is_file():
        raise ValueError(f"{path!r} does not exist: give the path of a PEM file with the CA "
                         "to trust")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(f"{path!r} is not a PEM file of CA certificates ({exc})") from None
    return path


@dataclass(frozen=True)
class Setting:
    """One row of the table. ``name`` is the :class:`Settings` attribute; the flags and ini
    key are derived from it so that they cannot disagree."""

    name: str
    help: str
    #: None for a switch (a boolean that a flag turns on).
    parse: Callable[[object], Any] | None
    metavar: str = ""
    #: Offered by ``wscheck run`` (as ``--<name>``).
    cli: bool = True
    #: A file: relative to the current directory for a flag, to the rootdir for an ini key.
    path: bool = False

    @property
    def switch(self) -> bool:
        return self.parse is None

    @property
    def cli_flag(self) -> str | None:
        return "--" + self.name.replace("_", "-") if self.cli else None

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
            "wss://...", ws_url, "ws://HOST:PORT"),
    Setting("spec", "protocol description (TOML); default [tool.wscheck] in the rootdir's "
            "pyproject.toml, else the reference protocol", text, "FILE.toml", path=True),
    Setting("timeout", f"seconds any single wait may take (default {DEFAULT_TIMEOUT:g})",
            seconds, "SECONDS"),
    Setting("quiet_window", f"seconds to wait for unexpected messages (default "
            f"{DEFAULT_QUIET_WINDOW:g}; in-process, silence is usually known at once)",
            seconds, "SECONDS"),
    Setting("idle_watch", f"seconds echo.idle watches an idle connection and bye.after-pause "
            f"pauses before the bye word (default {DEFAULT_IDLE_WATCH:g}; in-process, an idle "
            "app is known at once, a pause is always real)", seconds, "SECONDS"),
    Setting("examples", f"generated examples per property check (default "
            f"{DEFAULT_EXAMPLES_ASGI} in-process, {DEFAULT_EXAMPLES_URL} over the network; "
            "prop.stateful runs half as many state-machine runs of up to 20 steps, "
            "prop.concurrent a quarter as many examples of several clients)",
            count, "N"),
    Setting("concurrency", f"checks, the conversations of one check and the examples of one "
            "property run at the same time "
            f"(default {DEFAULT_CONCURRENCY}; 1 runs everything one after another, for targets "
            "that limit connections)", count, "N"),
    Setting("max_message_size", f"largest message accepted from the target, in bytes "
            f"(default {MAX_MESSAGE_SIZE}: 16 MiB); a larger one fails the connection (1009), "
            "reported as the target's fault", byte_size, "BYTES"),
    Setting("strict", "SHOULD failures fail the run too", None),
    Setting("ca_file", "CA bundle (PEM) to trust for wss://", ca_bundle, "FILE.pem", path=True),
    Setting("report", "write a JSON report (schema: docs/report-schema.md), even when checks "
            "fail", report_file, "FILE.json", path=True),
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


def options_markdown() -> str:
    """The README's options table, generated from :data:`TABLE` (a test keeps them equal)."""
    lines = ["| pytest flag / ini key | `wscheck run` | meaning |", "| --- | --- | --- |"]
    for s in TABLE:
        run = f"`{s.cli_flag}`" if s.cli_flag else "-"
        value = "" if s.switch else f" {s.metavar}"
        lines.append(f"| `{s.pytest_flag}{value}` / `{s.ini_key}` | {run} | {s.help} |")
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


def resolve(given: Mapping[str, Given], *, rootdir: Path, interface: Interface = "pytest",
            spec: Spec | None = None) -> Settings:
    """Check every given value and build the :class:`Settings`; raises :class:`SettingError`
    or :class:`SpecError` (both usage errors) with one line naming what the user typed.

    ``rootdir`` is where ``pyproject.toml``'s ``[tool.wscheck]`` is looked for when no spec
    is given; a ``spec`` passed in (a report's) is used as it is. Unset values are simply
    absent from ``given`` (or ``None``/``""``/``False``).
    """
    values: dict[str, Any] = {}
    for name, item in given.items():
        setting = BY_NAME[name]
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
    values["known_failures"] = _known_failures(known, spec_source, xfail)
    return Settings(spec=spec, spec_source=spec_source, interface=interface, **values)


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
                    xfail: str | None) -> dict[str, str]:
    """Known failures (check id -> where it is listed) from the spec and the xfail file; an id
    that names no check is a usage error, so a list cannot rot unnoticed."""
    from wscheck.config.known import KEY, read_xfail_file, unknown_ids

    sources = [(i, f"{KEY} of {spec_source}") for i in from_spec]
    if xfail:
        sources += [(i, xfail) for i in read_xfail_file(xfail)]
    for check_id, source in sources:
        if unknown_ids([check_id]):
            raise SettingError(f"unknown check id {check_id!r} in the known failures "
                               f"({source}); `wscheck checks` lists the ids")
    return dict(sources)
