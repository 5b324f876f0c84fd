"""What a network failure means, in one place: the exceptions of httpx, httpcore and the
socket layer mapped to the kit's observations.

httpx wraps httpcore's errors, which wrap the socket's (sometimes only as an argument), and
anyio groups the attempts at each address; the functions below dig through those layers. The
table :data:`HANDSHAKE_FAILURES` says, in the style of httpx's own
``_transports/default.py`` mapping, what each failure of the opening handshake becomes: a
:class:`~wscheck.errors.TargetUnreachable` (nothing answers: the run stops once) or the
connection's handshake event (the server answered, then failed: an observation). A change in
how those libraries raise touches this module alone. When a target counts as mute is
:mod:`._mute`'s (shared with the in-process driver), re-exported here.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import anyio
import httpcore
import httpx

from wscheck.core.events import Event, Silence, TransportError
from wscheck.drivers._mute import MUTE_AFTER, MuteWatch, TargetStoppedAnswering, time_lost
from wscheck.errors import TargetUnreachable

__all__ = [
    "HANDSHAKE_FAILURES",
    "MUTE_AFTER",
    "READ_ERRORS",
    "RELEASE_ERRORS",
    "SETTING",
    "WRITE_ERRORS",
    "MuteWatch",
    "TargetStoppedAnswering",
    "handshake_failure",
    "read_failure",
    "time_lost",
]

#: Where the one-line errors point the user; the CLI maps the same setting to its own flag.
SETTING = "--wscheck-url"

#: A read failed: the connection is gone (reset, or closed under us).
READ_ERRORS: tuple[type[BaseException], ...] = (httpcore.ReadError, OSError)
#: A write failed because the server just closed or reset: not an observation in itself,
#: the next read reports what really happened.
WRITE_ERRORS: tuple[type[BaseException], ...] = (
    httpcore.WriteError, httpcore.WriteTimeout, OSError)
#: Closing a socket that is already dead: the conversation's outcome is recorded by then.
RELEASE_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError, httpcore.NetworkError, OSError, anyio.BrokenResourceError,
    anyio.ClosedResourceError)


def read_failure(exc: BaseException) -> TransportError:
    """The final event of a connection whose read failed."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    detail = (root.strerror if isinstance(root, OSError) else None) or repr(root)
    return TransportError(f"connection reset without a close frame (1006): {detail}")


def _connect_failure(exc: httpx.ConnectError) -> BaseException | None:
    """The error under httpx's ``ConnectError``: httpx wraps httpcore's, which holds the
    original as its argument (its ``__cause__`` is not always kept)."""
    inner = exc.__cause__
    if isinstance(inner, httpcore.ConnectError):
        inner = inner.__cause__ or next(
            (arg for arg in inner.args if isinstance(arg, BaseException)), None
        )
    return inner


def _is_tcp_connect_failure(exc: httpx.ConnectError) -> bool:
    """True when the TCP connect failed, False when TCP worked and TLS failed on top of it.

    httpx raises ``ConnectError`` for both. The TCP connect fails with a plain ``OSError``
    (refused, unreachable, DNS); the TLS handshake with an ``ssl.SSLError`` (itself an
    ``OSError``) or an anyio stream error when the server hangs up mid-handshake.
    """
    inner = _connect_failure(exc)
    if _reset_cause(exc) is not None:
        return False  # something listens: it took the connection and then reset it
    return isinstance(inner, OSError) and not isinstance(inner, ssl.SSLError)


def _reset_cause(exc: BaseException) -> OSError | None:
    """The ``ConnectionResetError``/``ConnectionAbortedError`` somewhere under ``exc``:
    httpx and httpcore wrap it, sometimes only as an argument, and anyio groups attempts."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ConnectionResetError, ConnectionAbortedError)):
            return current
        stack += [e for e in (current.__cause__, current.__context__) if e is not None]
        stack += [a for a in current.args if isinstance(a, BaseException)]
        stack += list(getattr(current, "exceptions", ()))
    return None


def _transport_problem(exc: BaseException) -> str:
    """A readable reason for a transport failure whose own message is empty."""
    if _reset_cause(exc) is not None:
        return "connection reset by the server during the handshake"
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        if str(current):
            return str(current)
        current = current.__cause__ or current.__context__
    return type(exc).__name__


def _describe_connect_failure(exc: httpx.ConnectError) -> str:
    inner = _connect_failure(exc)
    if inner is None:
        return str(exc) or "connect failed"
    # anyio tries every address of the host and chains what each attempt raised.
    cause = inner.__cause__
    attempts = list(getattr(cause, "exceptions", [cause] if cause else [inner]))
    if attempts and all(isinstance(a, ConnectionRefusedError) for a in attempts):
        return "connection refused"
    first = attempts[0] if attempts else inner
    if isinstance(first, socket.gaierror):
        return f"host not found: {first.strerror or first}"
    if isinstance(first, OSError) and first.strerror:
        return first.strerror.lower()
    return str(first) or type(first).__name__


def _connect_error(exc: httpx.TransportError, target: str, timeout: float) -> Event:
    assert isinstance(exc, httpx.ConnectError)
    if _is_tcp_connect_failure(exc):
        detail = _describe_connect_failure(exc)
        if detail.startswith("host not found"):
            raise TargetUnreachable(
                f"cannot reach {target} ({detail}): fix the host in {SETTING}") from exc
        raise TargetUnreachable(
            f"nothing is listening at {target} ({detail}): start the server or fix {SETTING}"
        ) from exc
    if _reset_cause(exc) is not None:
        return TransportError(_transport_problem(exc))
    return TransportError(f"TLS handshake failed: {exc}")


def _nothing_answered(exc: httpx.TransportError, target: str, timeout: float) -> Event:
    raise TargetUnreachable(
        f"nothing answered at {target} within {timeout:g}s: start the server or fix {SETTING}"
    ) from exc


def _no_answer(exc: httpx.TransportError, target: str, timeout: float) -> Event:
    return Silence(timeout)


def _failed(exc: httpx.TransportError, target: str, timeout: float) -> Event:
    return TransportError(f"handshake failed: {_transport_problem(exc)}")


Outcome = Callable[[httpx.TransportError, str, float], Event]

#: Failures of the opening handshake, first match wins: each either raises
#: ``TargetUnreachable`` or gives the handshake event the connection reports.
HANDSHAKE_FAILURES: tuple[tuple[type[httpx.TransportError], Outcome], ...] = (
    (httpx.ConnectError, _connect_error),  # TCP refused/unreachable, or TLS on top failed
    (httpx.ConnectTimeout, _nothing_answered),
    (httpx.ReadTimeout, _no_answer),  # connected, but the 101 never came
    (httpx.WriteTimeout, _no_answer),
    (httpx.PoolTimeout, _no_answer),
    (httpx.TransportError, _failed),  # reset, protocol error, ... mid-handshake
)


def handshake_failure(exc: httpx.TransportError, target: str, timeout: float) -> Event:
    """The handshake event for ``exc`` (see :data:`HANDSHAKE_FAILURES`); raises
    :class:`TargetUnreachable` when nothing answers at ``target``."""
    for kind, outcome in HANDSHAKE_FAILURES:
        if isinstance(exc, kind):
            return outcome(exc, target, timeout)
    raise exc  # pragma: no cover  (the last row takes every httpx.TransportError)
