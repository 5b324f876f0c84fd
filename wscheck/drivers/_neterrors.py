"""What a network failure means, in one place: the exceptions of httpx, httpcore and the
socket layer mapped to the kit's observations.

httpx wraps httpcore's errors, which wrap the socket's (sometimes only as an argument), and
anyio groups the attempts at each address; the functions below dig through those layers. The
table :data:`HANDSHAKE_FAILURES` says, in the style of httpx's own
``_transports/default.py`` mapping, what each failure of the opening handshake becomes: a
:class:`~wscheck.errors.TargetUnreachable` (nothing answers: the run stops once) or the
connection's handshake event (the server answered, then failed: an observation). A change in
how those libraries raise touches this module alone.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable

import anyio
import httpcore
import httpx

from wscheck.errors import TargetUnreachable
from wscheck.events import Event, Silence, TransportError

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


class TargetStoppedAnswering(TargetUnreachable):
    """The target answered once, then stopped answering altogether (no byte in several waits
    in a row): the run stops once, as when nothing listens, instead of every check left
    waiting out its own timeouts."""


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


#: The target has stopped answering after this many waits in a row ran out without a single
#: byte from it, on any connection (see :class:`MuteWatch`): the run stops there rather than
#: wait out one timeout per check for the rest of the suite.
MUTE_AFTER = 3

class MuteWatch:
    """Tells when the target has stopped answering altogether, as opposed to a check's
    failure: :data:`MUTE_AFTER` waits in a row, over all connections, that ran out with not a
    byte from the target since they began.

    Only waits for something the target owes count: a reply the conversation expects
    (:meth:`UrlConnection.receive` for at least the driver's timeout), the answer to a
    handshake and the reply to the client's close frame; the quiet window (listening for
    nothing more) does not. Any byte after a handshake (a message, a close frame, a ping, or
    the end of the connection) starts the count again; a ``101`` does not, since a server
    whose HTTP layer upgrades but whose application never speaks is as mute as one that does
    not upgrade. A wait that began before another counted wait ended does not count, so
    connections waiting side by side count once. A live target that drops some replies
    still answers something (another reply, the close) between two such waits.

    Once tripped it stays tripped: every later connect raises at once.
    """

    def __init__(self, target: str) -> None:
        self._target = target
        self._count = 0
        self._heard = -float("inf")
        self._counted_until = -float("inf")
        self.stopped: str | None = None

    def heard(self) -> None:
        self._count = 0
        self._heard = time.monotonic()

    def ran_out(self, started: float, what: str, *, fail: bool = True) -> None:
        """A wait begun at ``started`` ran out; when it is the :data:`MUTE_AFTER`-th in a row
        raises :class:`TargetStoppedAnswering` (with ``fail``; otherwise the next connect or
        receive does)."""
        if started < self._heard or started < self._counted_until:
            return
        self._count += 1
        self._counted_until = time.monotonic()
        if self._count >= MUTE_AFTER:
            self.stopped = (
                f"the target stopped answering: not a byte from {self._target} during "
                f"{self._count} waits in a row, the last for {what}")
            if fail:
                raise TargetStoppedAnswering(self.stopped)

    def check(self) -> None:
        if self.stopped is not None:
            raise TargetStoppedAnswering(self.stopped)
