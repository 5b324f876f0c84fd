"""The interface every driver implements.

A driver opens :class:`Connection` objects. A connection reports what the server does as
:mod:`wscheck.core.events` values and never raises for anything the *server* does wrong: a refusal,
a crash, a reset or silence are observations, not errors. Exceptions are kept for misuse of the
kit itself and for :class:`TargetUnreachable`, which lets a run stop once instead of every
check waiting out its own timeout.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Protocol, TypeAlias, runtime_checkable
from urllib.parse import quote

from wscheck.core.events import Event, SpacesAs
from wscheck.errors import TargetUnreachable

__all__ = ["CUT_SHORT", "FLOOD_FACTOR", "FLOOD_SLACK", "MAX_MESSAGE_SIZE", "REPLY_BOUND",
           "Connection", "Driver", "DropsUnnoticed", "Pairs", "ReplyTimes", "SeesAppTimers",
           "TargetUnreachable", "example_bound", "note_cut_short", "query_string", "reply_wait",
           "underlying"]

#: The largest message (all its frames together) a driver accepts from the target by default:
#: far above the protocol's 1 MiB, far below what would exhaust memory. A larger one fails
#: the connection with 1009, reported as the target's fault with the size it announced.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024

#: The protocol answers one message with at most 3 (``/item/ws``); a target that has sent
#: more than this many times the messages the client sent, while far more are waiting
#: (in-process: the backpressure bound; over the network: ``FLOOD_SLACK`` more), is
#: flooding: the client fails the connection and the transcript ends with ``Flooded``.
FLOOD_FACTOR = 3
#: Over the network, the messages a target may send beyond ``FLOOD_FACTOR`` × the client's
#: before it counts as flooding (unsolicited ones below it are recorded as they are).
FLOOD_SLACK = 1000

#: A shorter wait for a reply than the driver's timeout, for the code running in this context
#: (a property's replays while it shrinks, :mod:`wscheck.generation.runner`); None: the
#: timeout. Only a wait the caller left to the driver (``receive()`` without a timeout) is
#: bounded, and silence after a bounded wait counts against no mute watch.
REPLY_BOUND: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "wscheck_reply_bound", default=None)


#: Where the silences are counted that came after a wait :data:`REPLY_BOUND` made shorter than
#: the timeout (their waits, in seconds), for code that must know whether a run saw any: the
#: schedule's run alone (:mod:`wscheck.run.schedule`). None: not counted.
CUT_SHORT: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "wscheck_cut_short", default=None)


def note_cut_short(wait: float, timeout: float) -> None:
    """Count a silence after a wait of ``wait`` seconds, when that is less than ``timeout``
    (see :data:`CUT_SHORT`)."""
    counted = CUT_SHORT.get()
    if counted is not None and wait < timeout:
        counted.append(wait)


def example_bound(driver_timeout: float) -> float:
    """Seconds one generated example may take: far more than its waits add up to, so never
    reached by an app that answers within the driver's timeout. Also what a broadcast room's
    scenario may wait for another process to leave the room (wscheck.run.room)."""
    return driver_timeout * 20 + 10


def reply_wait(timeout: float) -> float:
    """How long a reply is waited for here: the driver's ``timeout``, or the context's
    shorter :data:`REPLY_BOUND`."""
    bound = REPLY_BOUND.get()
    return timeout if bound is None else min(bound, timeout)


class ReplyTimes:
    """The slowest reply a driver has seen in this run: what a bounded replay may wait."""

    def __init__(self) -> None:
        self.slowest = 0.0

    def saw(self, seconds: float) -> None:
        if seconds > self.slowest:
            self.slowest = seconds


#: Query parameters or cookies: name-value pairs in the order they are sent.
Pairs: TypeAlias = Sequence[tuple[str, str]]


def query_string(query: Pairs, space: str) -> str:
    """``query`` percent-encoded in the given order, every byte but unreserved ones escaped;
    a space spelled ``space`` (``"%20"`` or ``"+"``) unless the value is a
    :class:`~wscheck.core.events.SpacesAs`, which says how its spaces are spelled (or that
    an empty value goes without ``=``)."""
    def encode(text: str, spelling: str) -> str:
        escaped = quote(text, safe="")
        return escaped.replace("%20", "+") if spelling == "+" else escaped
    return "&".join(
        encode(k, space) if isinstance(v, SpacesAs) and v.spelling == "bare" else
        f"{encode(k, space)}={encode(v, v.spelling if isinstance(v, SpacesAs) else space)}"
        for k, v in query)


@runtime_checkable
class Connection(Protocol):
    """One open (or refused) WebSocket connection, seen from the client."""

    #: What the handshake gave: ``Accepted()``, ``Refused(...)``, ``TransportError(...)``,
    #: ``AppCrashed(...)``, ``ProtocolViolation(...)`` or ``Silence(...)`` (never answered).
    handshake: Event

    async def send_text(self, text: str) -> None:
        """Send a text message. After the connection ended this does nothing: the end is
        already an observation, and a client racing a close is not an error."""

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message (same rules as :meth:`send_text`)."""

    async def receive(self, timeout: float | None = None) -> Event:
        """The next thing the server did, or ``Silence(timeout)`` if nothing came in time.

        Once the connection has ended every further call returns the final event again.
        ``None`` means the driver's configured timeout.
        """

    async def quiet(self, window: float | None = None) -> Event | None:
        """Wait until the server has nothing more to say: ``None`` when it stayed silent,
        otherwise the event that arrived. Drivers that *know* the server is idle (the
        in-process driver, when the app waits in ``receive()``) return at once. ``None``
        means the driver's configured quiet window."""

    async def close(self, code: int = 1000) -> None:
        """Start a normal closing handshake and wait (bounded) for it to finish."""

    async def drop(self) -> None:
        """Vanish without a closing handshake, like a client whose TCP connection died."""

    async def finish(self, timeout: float | None = None) -> Event | None:
        """After the conversation ended, wait (bounded) for the server side to wind down and
        return what went wrong on the way out (an app exception, a message sent after the
        close), or ``None``. Drivers that cannot see the server's insides return ``None``."""


def underlying(driver: Driver) -> Driver:
    """The driver a wrapper stands for (its ``wraps``, as the plugin's counting driver has),
    else ``driver`` itself: what anything shared by every check on one target is keyed on
    (a broadcast room's lock), since a wrapper is made per check."""
    wrapped = getattr(driver, "wraps", None)
    return driver if wrapped is None else underlying(wrapped)


@runtime_checkable
class SeesAppTimers(Protocol):
    """A connection that can tell when the app behind it may next act of its own accord: the
    in-process driver, which shares the app's event loop and sees its timers."""

    def next_app_timer(self) -> float | None:
        """Seconds until the earliest timer of the app's loop that is not the kit's own (an
        idle timeout, a periodic task), or None when there is none or it cannot be known."""


@runtime_checkable
class DropsUnnoticed(Protocol):
    """A connection that can vanish without the server noticing at once (the in-process
    driver's): over a network the order of a drop and the next message cannot be forced,
    and a plain :meth:`Connection.drop` is the closest there is."""

    async def drop_unnoticed(self) -> None:
        """Vanish; the server finds out when its next send to this client fails (or after a
        short bounded time), not before."""


@runtime_checkable
class Driver(Protocol):
    """Opens connections to one target. A driver may also have ``replies``, a
    :class:`ReplyTimes` its connections update: shrinking properties then bound how long a
    replay waits for a reply (without it, every replay waits the full timeout)."""

    #: ``"asgi"`` or ``"url"``: what kind of target this is, for reports.
    kind: str
    #: The target as the user gave it (``mypkg.main:app``, ``ws://127.0.0.1:8000``).
    target: str
    #: Seconds any single wait may take.
    timeout: float

    async def connect(self, path: str, query: Pairs = (), cookies: Pairs = (), *,
                      origin: bool = False) -> Connection:
        """Open a connection. Returns even when the handshake is refused (see
        ``Connection.handshake``); raises :class:`TargetUnreachable` only when nothing answers
        at all. ``origin`` adds the ``Origin`` header of a page the target served (see
        :class:`~wscheck.core.events.Conversation`)."""

    async def aclose(self) -> None:
        """Release everything the driver holds (clients, app tasks)."""
