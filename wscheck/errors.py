"""Every exception wscheck raises, in one tree, and the exit status each one means.

Like httpx's ``_exceptions.py``: one root, so ``except WscheckError`` catches everything the
kit raises on purpose, and anything else that escapes is a bug in the kit (never a verdict
about the app). The tree::

    WscheckError
    ├── UsageError              the user asked for something that cannot work: exit 4
    │   ├── SettingError        one setting's value is invalid (names the flag typed)
    │   ├── SpecError           a spec file or table is malformed (names file and key)
    │   ├── TargetError         the target named cannot be used (import fails, not ASGI, ...)
    │   └── ReplayError         a report or check id cannot be replayed
    ├── TargetDown              the target does not answer at all: the run stops once, exit 1
    │   └── TargetUnreachable   nothing to connect to (refused, DNS, reset before a byte)
    ├── UnspecifiedBehaviour    the protocol leaves this outcome to the implementation
    ├── CheckFailure            a check's verdict is a failure (an ``AssertionError`` for pytest)
    └── ClientDisconnected      raised into an in-process app that sends after the client left

Usage errors are about the command line or files and are reported as one line before any
check runs; target errors are about the thing under test and end the run as a failure.
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CheckFailure",
    "ClientDisconnected",
    "ReplayError",
    "SettingError",
    "SpecError",
    "TargetDown",
    "TargetError",
    "TargetUnreachable",
    "UnspecifiedBehaviour",
    "UsageError",
    "WscheckError",
    "exit_status",
]

#: Every MUST check passed (pytest's own 0).
EXIT_OK = 0
#: A check failed, or the target stopped answering (pytest's own 1).
EXIT_FAILED = 1
#: Bad options or files: one line on stderr, nothing run (pytest's ``USAGE_ERROR``).
EXIT_USAGE = 4


class WscheckError(Exception):
    """The root of every exception wscheck raises on purpose."""


class UsageError(WscheckError):
    """What the user asked for cannot work; the message says what is wrong and what to do."""


class SettingError(UsageError):
    """One setting has an invalid value; the message names the flag or key the user typed."""


class SpecError(UsageError):
    """A spec file or table is malformed; the message names the file and the key."""


class TargetError(UsageError):
    """The target the user named cannot be used; the message says what to do."""


class ReplayError(UsageError):
    """The report or the check cannot be replayed; the message says why."""


class TargetDown(WscheckError):
    """The target does not answer at all, so no check can say anything about it."""


class TargetUnreachable(TargetDown):
    """There is nothing to talk to: nothing listening, no such host, app not importable as ASGI."""


class UnspecifiedBehaviour(WscheckError):
    """The protocol leaves this conversation's outcome to the implementation (e.g. ``q=05``)."""


class CheckFailure(WscheckError, AssertionError):
    """A check's verdict was a failure.

    An ``AssertionError`` too, so that pytest reports it as a test failure, not an error.
    """


class ClientDisconnected(WscheckError, OSError):
    """Raised into an in-process app when it sends on a connection the client has left.

    ASGI 2.4 asks servers to raise an ``OSError`` subclass here; Starlette turns it into
    ``WebSocketDisconnect``, which a well-behaved app handles quietly.
    """


def exit_status(exc: BaseException) -> int:
    """The process exit status for an exception that ends a run: the one place that maps them."""
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    return EXIT_FAILED
