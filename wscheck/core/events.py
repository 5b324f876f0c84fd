"""The kit's vocabulary: a *conversation* goes in, a *transcript* comes out.

A conversation is what a client does (connect somewhere, send, close, drop). A transcript is
what the client observed from the server, as a tuple of frozen events. The model
(:mod:`wscheck.model.echo`) predicts a transcript from a conversation; a driver
(:mod:`wscheck.drivers`) observes one; a check compares the two. Keeping both sides as plain
values is what lets the model be tested exhaustively and failures be printed and replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "MAX_CLOSE_REASON",
    "SPELLINGS",
    "Accepted",
    "Action",
    "AppCrashed",
    "AppExited",
    "AppLogged",
    "Binary",
    "ClientClose",
    "Closed",
    "Conversation",
    "Drop",
    "Event",
    "Flooded",
    "ProtocolViolation",
    "Refused",
    "SendBytes",
    "SendText",
    "Silence",
    "SpacesAs",
    "Text",
    "Transcript",
    "TransportError",
    "describe",
]


# --- what the server did ------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """The handshake completed."""


@dataclass(frozen=True)
class Text:
    """A text message from the server."""

    text: str
    #: ``(characters, UTF-8 bytes)`` of the message when ``text`` is a network driver's clip
    #: of it (:class:`~wscheck.core.limits.KeptText`), so that what counts a message's size (a
    #: drain's byte budget, a flood's unread bytes) counts what the server sent. Never
    #: compared: a clipped text equals what ``clip_kept`` of the whole message would be.
    original: tuple[int, int] | None = field(default=None, compare=False, repr=False,
                                             kw_only=True)

    @property
    def chars(self) -> int:
        """Characters of the message the server sent (clipped or not)."""
        return len(self.text) if self.original is None else self.original[0]


@dataclass(frozen=True)
class Binary:
    """A binary message from the server."""

    data: bytes


#: The longest close reason a close frame carries, in bytes of UTF-8 (RFC 6455 §5.5: a control
#: frame's payload is at most 125 bytes, two of them the code).
MAX_CLOSE_REASON = 123


@dataclass(frozen=True)
class Closed:
    """The server closed an accepted connection. The reason is kept but never compared:
    the protocol does not specify reasons, only codes."""

    code: int
    reason: str = field(default="", compare=False)

    @property
    def reason_size(self) -> int:
        """The reason's size in bytes of UTF-8: over :data:`MAX_CLOSE_REASON`, a close that
        only an in-process app can ask for and no server can send as it is."""
        return len(self.reason.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class Refused:
    """The handshake was not accepted.

    ``status`` is the HTTP status a network client saw (403 from most servers when an ASGI app
    closes before accepting) or that an app sent through the denial-response extension;
    ``close_code`` is the code of an ASGI ``websocket.close`` sent before ``websocket.accept``,
    which only an in-process driver can see.
    """

    status: int | None = None
    close_code: int | None = None


@dataclass(frozen=True)
class Silence:
    """Nothing arrived although something was expected.

    ``seconds`` is how long the client waited; 0 means the in-process driver *knew* nothing
    could come (the app was idle, waiting for the client). It is not compared: how long the
    kit waited is a setting, not an observation.
    """

    seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class AppCrashed:
    """The ASGI app raised (in-process only: over a network it looks like a 1011 or a drop)."""

    exception: str


@dataclass(frozen=True)
class AppLogged:
    """The ASGI app logged a record at ERROR or above (in-process only: a network client
    cannot see a server's log). ``level`` is the level's name, ``logger`` the logger's."""

    level: str
    logger: str
    message: str


@dataclass(frozen=True)
class AppExited:
    """The ASGI app returned while the connection was open, without sending a close."""


@dataclass(frozen=True)
class ProtocolViolation:
    """The app broke the ASGI protocol (send before accept, anything after close, ...).

    ``after_close`` marks a message the app sent once the connection was over: a check of
    "nothing after the close" judges that flag, never the wording of ``problem``.
    """

    problem: str
    after_close: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True)
class TransportError:
    """The network failed under the client: connection refused, reset, TLS failure, ..."""

    problem: str


@dataclass(frozen=True)
class Flooded:
    """The target sent far more than the conversation asked for, so the client stopped
    reading and failed the connection (1008) rather than fill memory or wait on it.

    ``messages`` and ``size`` (bytes, UTF-8 for text) count what it had sent that the client
    never read; they replace those messages in the transcript. When a driver calls a target
    flooding is in ``docs/guide.md`` (Limits and safety, ``FLOOD_FACTOR``).
    """

    messages: int
    size: int


Event: TypeAlias = (
    Accepted | Text | Binary | Closed | Refused | Silence | AppCrashed | AppExited
    | AppLogged | ProtocolViolation | TransportError | Flooded
)
Transcript: TypeAlias = tuple[Event, ...]

#: Events after which nothing more can be observed on a connection.
FINAL_EVENTS = (Closed, Refused, AppCrashed, AppExited, ProtocolViolation, TransportError,
                Flooded)


# --- what the client does -----------------------------------------------------------------


@dataclass(frozen=True)
class SendText:
    """The client sends a text message: any text a WebSocket frame can carry, the empty
    string included."""

    text: str


@dataclass(frozen=True)
class SendBytes:
    """The client sends a binary message (the protocol answers it with a close, 1003 by
    default)."""

    data: bytes


@dataclass(frozen=True)
class ClientClose:
    """The client starts a normal closing handshake."""

    code: int = 1000


@dataclass(frozen=True)
class Drop:
    """The client vanishes without a closing handshake (TCP drop).

    Normally the client first reads the replies it is owed, so the transcript stays fully
    checkable; ``in_flight=True`` drops at once, with replies still on their way (those
    replies are then unobservable and left out of the expected transcript).
    """

    in_flight: bool = False


Action: TypeAlias = SendText | SendBytes | ClientClose | Drop


#: How :class:`SpacesAs` may spell a query value: its spaces as ``+`` or ``%20``, or (an empty
#: value) no ``=`` at all.
SPELLINGS = ("+", "%20", "bare")


class SpacesAs(str):
    """A query value whose spaces the kit spells a fixed way in the query string: ``"+"``
    (as HTML forms and the network driver spell them) or ``"%20"`` (as the in-process driver
    does); or ``"bare"``: an empty value sent with no ``=`` at all (``?debug&token=x``), which
    the standard parsers read as the empty string. It equals its decoded text, which is what
    the model reasons about; only the spelling on the way differs. A plain ``str`` value is
    spelled the driver's way."""

    spelling: str

    def __new__(cls, value: str, spelling: str) -> SpacesAs:
        if spelling not in SPELLINGS:
            raise ValueError(f"a space is spelled '+' or '%20' (or a value 'bare'), not "
                             f"{spelling!r}")
        if spelling == "bare" and value:
            raise ValueError("only an empty query value is sent bare (without '=')")
        self = super().__new__(cls, value)
        self.spelling = spelling
        return self

    def __repr__(self) -> str:
        return f"SpacesAs({str(self)!r}, {self.spelling!r})"


def _freeze(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(mapping.items()) if mapping else ()


@dataclass(frozen=True)
class Conversation:
    """One client connection: where it goes, with what, and what it sends.

    ``pipelined`` sends every message before reading any reply; otherwise the client reads the
    replies to each message before sending the next (lock-step). ``path`` is the request path
    with parameters already filled in; ``query`` and ``cookies`` keep their order and may hold
    empty strings, which the protocol distinguishes from absent values.

    ``origin`` sends the ``Origin`` header a browser sends on a page the target itself served
    (``http://host:port`` of the target, ``https://`` under TLS). Every browser sends one and
    other clients usually none; the protocol (``/ws`` 1) says both must be accepted, so the
    kit asks both ways rather than pick one for every handshake.
    """

    path: str
    actions: tuple[Action, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    pipelined: bool = False
    origin: bool = False

    @classmethod
    def of(
        cls,
        path: str,
        *messages: str | bytes | Action,
        query: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        pipelined: bool = False,
        origin: bool = False,
    ) -> Conversation:
        """Shorthand: ``Conversation.of("/ws", "hi", "bye")``; bytes become binary messages."""
        actions: list[Action] = []
        for m in messages:
            if isinstance(m, str):
                actions.append(SendText(m))
            elif isinstance(m, bytes):
                actions.append(SendBytes(m))
            else:
                actions.append(m)
        return cls(path, tuple(actions), _freeze(query), _freeze(cookies), pipelined, origin)


def _clip(text: str, limit: int = 200) -> str:
    """``repr`` of a text, shortened in the middle when long (a 64 KiB message is one line)."""
    if len(text) <= limit:
        return repr(text)
    half = limit // 2
    return f"{text[:half]!r} … {text[-half // 2:]!r} ({len(text)} chars)"


_FAILURE_PREFIX: dict[type, str] = {
    AppCrashed: "app raised ",
    ProtocolViolation: "ASGI violation: ",
    TransportError: "transport error: ",
}


def _line(text: str, limit: int = 200) -> str:
    """A text the target chose (an exception, a problem) as part of one printed line: clipped,
    with every control character escaped so that it cannot drive the terminal."""
    from wscheck.core.limits import clip, printable

    return printable(clip(text, limit))


def describe(item: Event | Action) -> str:
    """One line for a report: ``Text('hi')``, ``Closed(1000)``, ``send 'hi'``."""
    match item:
        case Accepted():
            return "accepted"
        case Text(text):
            return f"text {_clip(text)}"
        case Binary(data):
            return f"binary {data[:32]!r}{'…' if len(data) > 32 else ''} ({len(data)} bytes)"
        case Closed(code, reason):
            return f"close {code}" + (f" {_clip(reason)}" if reason else "")
        case Refused(status, close_code):
            if status is not None:
                return f"refused: HTTP {status}"
            return f"refused: close {close_code} before accept"
        case Silence(seconds):
            if not seconds:
                return "nothing (the app is idle, waiting for the client)"
            return f"nothing within {seconds:g}s"
        case AppExited():
            return "app returned without closing"
        case AppLogged(level, logger, message):
            return f"app logged {level} (logger {_line(logger, 80)!r}): {_line(message)}"
        case Flooded(messages, size):
            # Short enough for a cell of the side-by-side table.
            return f"flood: {messages} unasked messages ({size} bytes), unread; client left"
        case AppCrashed(detail) | ProtocolViolation(detail) | TransportError(detail):
            return _FAILURE_PREFIX[type(item)] + _line(detail)
        case SendText(text):
            return f"send text {_clip(text)}"
        case SendBytes(data):
            return f"send binary {data[:32]!r} ({len(data)} bytes)"
        case ClientClose(code):
            return f"client closes ({code})"
        case Drop(in_flight):
            return "client drops the TCP connection" + (" (replies in flight)" if in_flight
                                                         else "")
    raise TypeError(f"not an event or action: {item!r}")  # pragma: no cover

