"""What a setting's value must be: one parser per kind of value, used by every row of the
settings table (:mod:`wscheck.config.settings`).

A parser takes a value as given (text from a flag or an ini key, or a number from a report)
and returns the value, or raises :class:`ValueError` whose message completes ``"<flag> ..."``,
so that the table can name whatever the user typed.
"""

from __future__ import annotations

import math
import re
import ssl
from pathlib import Path

from wscheck.errors import SettingError

__all__ = [
    "MAX_MESSAGE_SIZE_LIMIT",
    "MAX_SECONDS",
    "MIN_MESSAGE_SIZE",
    "byte_size",
    "ca_bundle",
    "conversation_file",
    "count",
    "integer",
    "processes",
    "rate",
    "report_file",
    "run_time",
    "seconds",
    "suite_name",
    "text",
    "ws_url",
]

#: Upper bound of every duration: an hour is far more than any wait the kit needs.
MAX_SECONDS = 3600.0
#: Smallest ``max_message_size`` accepted: a reply to a 64 KiB message must fit, with room.
MIN_MESSAGE_SIZE = 128 * 1024
#: Largest ``max_message_size`` accepted: beyond it one hostile reply could exhaust memory.
MAX_MESSAGE_SIZE_LIMIT = 1024 * 1024 * 1024


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


#: The bundled suites ``--wscheck-suite`` chooses from (``all``: both, chat first).
SUITE_NAMES = ("chat", "rfc6455", "all")


def suite_name(raw: object) -> str:
    """One of :data:`SUITE_NAMES`."""
    value = str(raw).strip().lower()
    if value not in SUITE_NAMES:
        raise ValueError(f"must be one of {', '.join(SUITE_NAMES)}, got {raw!r}")
    return value


def integer(raw: object) -> int:
    """A whole number (negative ones included)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            pass
    raise ValueError(f"must be a whole number, got {raw!r}")


def count(raw: object) -> int:
    """A whole number of at least 1."""
    value = integer(raw)
    if value < 1:
        raise ValueError(f"must be at least 1, got {raw!r}")
    return value


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
    from wscheck.drivers.handshake import parse_target_url

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


# --- wscheck load's own kinds of value ------------------------------------------------------


def rate(raw: object) -> float:
    """A finite number more than 0 (users started per second)."""
    try:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be more than 0, got {raw!r}")
    return value


_RUN_TIME = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def run_time(raw: object) -> float:
    """Seconds as Locust's ``--run-time`` writes them: ``90``, ``90s``, ``1m30s``, ``1h``."""
    value = raw if isinstance(raw, str) else ""
    match = _RUN_TIME.fullmatch(value)
    if not value or match is None:
        raise ValueError(f"must be seconds or a duration like 30s, 2m, 1h30m, got {raw!r}")
    if value.isdigit():
        total = int(value)
    else:
        h, m, s = (int(g or 0) for g in match.groups())
        total = h * 3600 + m * 60 + s
    if total <= 0:
        raise ValueError(f"must be more than 0, got {raw!r}")
    return float(total)


def processes(raw: object) -> int:
    """A number of Locust worker processes: at least 1, or -1 for one per CPU."""
    value = integer(raw)
    if value == 0 or value < -1:
        raise ValueError(f"must be at least 1 (or -1 for one per CPU), got {raw!r}")
    return value


def conversation_file(raw: object) -> str:
    """A file that exists (a conversation as JSON, which its reader checks)."""
    path = text(raw)
    if not Path(path).is_file():
        raise ValueError(f"{path!r} does not exist: give the path of a conversation file "
                         "(a failing run writes one per kind of difference)")
    return path
