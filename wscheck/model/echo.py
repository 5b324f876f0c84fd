"""The oracle: what a conforming server does, as a pure function.

``expected(spec, conversation)`` returns the transcript a conforming server produces. There is
no asyncio and no I/O here (the sans-I/O style of h11 and wsproto), so the model can be tested
exhaustively, read in one sitting, and checked against the reference app on generated
conversations — the two executable readings of ``protocol.md`` must never drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from wscheck.core.cookies import cookie_header, parse_cookie_header
from wscheck.core.events import (
    Accepted,
    Action,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Event,
    SendBytes,
    SendText,
    Text,
    Transcript,
)
from wscheck.core.spec import AuthSpec, EchoSpec, Spec
from wscheck.errors import UnspecifiedBehaviour

__all__ = [
    "CANONICAL_INT",
    "ModelConnection",
    "UnspecifiedBehaviour",
    "expected",
    "q_is_checked",
]

#: ``q`` values the protocol pins down: ``0``, or an optional ``-`` then digits with no
#: leading zero. Anything else that has a digit (``+5``, ``05``, ``5.0``) is left to the app.
CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")


def q_is_checked(value: str) -> bool:
    """Whether the protocol specifies the outcome for this ``q`` value: canonical integers
    (accepted) and non-empty values with no digit at all (refused). An empty ``q=`` and other
    spellings with digits are left to the implementation."""
    if CANONICAL_INT.fullmatch(value):
        return True
    return value != "" and not any(c.isdigit() for c in value)


def _last(pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    # Starlette (and most frameworks) take the last of repeated keys; conversations the kit
    # generates never repeat a key, so this only matters for hand-written ones.
    found = None
    for key, value in pairs:
        if key == name:
            found = value
    return found


class ModelConnection:
    """One connection as a conforming server sees it; feed it actions, get server events.

    Checks that read replies in lock-step use :meth:`step` to know how many events each
    message should produce; :func:`expected` folds a whole conversation.
    """

    def __init__(self, spec: Spec, conversation: Conversation) -> None:
        self.spec = spec
        self.closed = False
        self._echo: EchoSpec | None = None
        self._auth: AuthSpec | None = None
        self._credential: str | None = None
        self._q: int | None = None
        self._has_q = False
        path = conversation.path
        if spec.echo is not None and path == spec.echo.url_path():
            self._echo = spec.echo
        elif spec.auth is not None and path == spec.auth.url_path():
            self._auth = spec.auth
        else:
            raise UnspecifiedBehaviour(f"the spec describes no endpoint at {path!r}")
        self._query = conversation.query
        self._cookies = conversation.cookies

    def open(self) -> tuple[Event, ...]:
        """What the server does when the client connects."""
        auth = self._auth
        if auth is None:
            return (Accepted(),)
        # The value standard cookie parsing reads from the header the client sends (quotes
        # removed, a nameless cookie apart), not the pair as written: the oracle of any
        # hand-rolled parser (protocol /item/ws: Starlette's, like Python's http.cookies).
        cookie = parse_cookie_header(cookie_header(self._cookies)).get(auth.cookie)
        token = _last(self._query, auth.token)
        q = _last(self._query, auth.q)
        denied = (Accepted(), Closed(auth.denied_close_code))
        if cookie is None and token is None:
            self.closed = True
            return denied
        if q is not None:
            if not q_is_checked(q):
                raise UnspecifiedBehaviour(f"the protocol leaves q={q!r} to the implementation")
            if CANONICAL_INT.fullmatch(q) is None:
                self.closed = True
                return denied
            self._q = int(q)
        self._has_q = q is not None
        self._credential = cookie or token
        return (Accepted(),)

    def step(self, action: Action) -> tuple[Event, ...]:
        """What the server sends in answer to one client action."""
        if self.closed:
            return ()
        match action:
            case SendText(text):
                return self._on_text(text)
            case SendBytes():
                self.closed = True
                section = self._echo or self._auth
                assert section is not None
                return (Closed(section.binary_close_code),)
            case ClientClose() | Drop():
                self.closed = True
                return ()
        raise TypeError(f"not an action: {action!r}")  # pragma: no cover

    def _on_text(self, text: str) -> tuple[Event, ...]:
        if self._echo is not None:
            echo = self._echo
            if echo.bye is not None and text == echo.bye:
                self.closed = True
                return (*(Text(f) for f in echo.farewells), Closed(echo.bye_close_code))
            return (Text(echo.render_reply(text)),)
        auth = self._auth
        assert auth is not None
        replies = [Text(auth.render(auth.credential_reply, credential=self._credential))]
        if self._has_q:
            replies.append(Text(auth.render(auth.q_reply, q=self._q)))
        replies.append(Text(auth.render(auth.message_reply, message=text, q=self._q)))
        return tuple(replies)


def expected(spec: Spec, conversation: Conversation) -> Transcript:
    """The transcript of a conforming server for ``conversation`` under ``spec``.

    Raises :class:`UnspecifiedBehaviour` for conversations whose outcome the protocol leaves
    open, so that no check can ever pass or fail an app on behaviour the brief does not fix.
    """
    model = ModelConnection(spec, conversation)
    events = list(model.open())
    for action in conversation.actions:
        events.extend(model.step(action))
    return tuple(events)
