"""The app's side of an in-process connection: what the app's ``receive()`` and ``send()``
do, each ASGI message the app sends checked against the connection's state (connecting, open,
a denial response, closed), and an app that sends faster than the client reads held back.

:class:`~wscheck.drivers.asgi.AsgiConnection` is the client's side of the same connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, MutableMapping
from typing import Any, NoReturn

from wscheck.core.events import (
    Accepted,
    AppCrashed,
    AppExited,
    AppLogged,
    Binary,
    Closed,
    Event,
    Flooded,
    ProtocolViolation,
    Refused,
    Text,
    TransportError,
)
from wscheck.drivers._appguard import ASGIApp, Message, call_app
from wscheck.drivers._applog import describe_record
from wscheck.drivers._idle import monitor_for
from wscheck.drivers._mute import MuteWatch
from wscheck.drivers.base import FLOOD_FACTOR
from wscheck.errors import ClientDisconnected, WscheckError

__all__ = ["MAX_UNREAD_BYTES", "MAX_UNREAD_MESSAGES", "AppSide"]

#: Close codes that RFC 6455 reserves and an endpoint must never send.
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


#: Messages the app may have sent that the client has not read yet, and their total size,
#: before its ``send()`` waits for the client to read (what a full TCP window does to a
#: server). An app that sends without end then waits, instead of filling memory, and the
#: conversation records at most ``runner.MAX_EXTRA_EVENTS`` of what it sent. When the app
#: then has sent more than ``FLOOD_FACTOR`` × the client's messages it is flooding instead
#: (see :meth:`AppSide._flood`).
MAX_UNREAD_MESSAGES = 1000
MAX_UNREAD_BYTES = 4 * 1024 * 1024


class _ViolationError(WscheckError, RuntimeError):
    """Raised into the app after it broke the ASGI protocol, like a real server would."""


class AppSide:
    """The app's side of one in-process connection; the client's side reads ``_events``,
    which ends with ``_final`` once the connection is over."""

    def __init__(self, app: ASGIApp, scope: MutableMapping[str, Any], max_message_size: int,
                 mute: MuteWatch) -> None:
        self._app = app
        #: A larger message from the app fails the connection with 1009.
        self._max_message_size = max_message_size
        self._mute = mute
        self._offered: list[str] = list(scope.get("subprotocols") or [])
        self._loop = asyncio.get_running_loop()
        self._state = "connecting"  # connecting | open | response | closed
        self._inbox: deque[Message] = deque([{"type": "websocket.connect"}])
        self._receiver: asyncio.Future[Message] | None = None
        self._events: deque[Event] = deque()
        self._final: Event | None = None
        self._client_gone = False
        self._gone_code = 1006
        #: The client has gone but the app is not told yet (``_hold_disconnect``): its
        #: ``receive()`` waits until a send on this connection fails or this timer fires.
        self._unnoticed: asyncio.TimerHandle | None = None
        self._response_status = 0
        self._violation: _ViolationError | None = None
        self._late_error: Event | None = None
        self._waiters: list[asyncio.Future[bool]] = []
        #: Sizes of the unread messages in ``_events`` (for backpressure), and their total.
        self._unread_bytes = 0
        #: The app's ``send()`` waits on this while the client is behind (backpressure).
        self._writable: asyncio.Future[None] | None = None
        #: The first ERROR record the app made once the client had left (``/ws`` 7).
        self._logged: AppLogged | None = None
        #: Messages each side sent on this connection (what tells a flood from a backlog).
        self._client_messages = 0
        self._app_messages = 0
        self._monitor = monitor_for(self._loop)

    async def _run(self, scope: MutableMapping[str, Any]) -> None:
        try:
            await call_app(self._app, scope, self._app_receive, self._app_send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the app's failure is an observation, not ours
            if exc is self._violation:
                pass
            elif self._final is None and not self._client_gone:
                self._finish(AppCrashed(f"{type(exc).__name__}: {exc}"))
            elif self._late_error is None:
                self._late_error = AppCrashed(f"{type(exc).__name__}: {exc}")
        else:
            if self._final is None:
                self._finish(AppExited())
        finally:
            self._notify()

    async def _app_receive(self) -> Message:
        if self._inbox:
            return self._inbox.popleft()
        if (self._client_gone and self._unnoticed is None) or self._state == "closed":
            return {"type": "websocket.disconnect", "code": self._gone_code}
        self._receiver = self._loop.create_future()
        self._notify()  # the app may have just become idle
        try:
            return await self._receiver
        finally:
            self._receiver = None

    async def _app_send(self, message: object) -> None:
        """What the app sends: checked in every state here, then by its type's handler."""
        # Typed as ``object``: an app may send anything, and anything but a dict is its error.
        if not isinstance(message, Mapping):
            self._violate(f"sent a {type(message).__name__}, not an ASGI message dict")
        kind = message.get("type")
        if self._client_gone:
            # Whatever it sends, a close included: uvicorn (websockets and wsproto alike)
            # raises its ClientDisconnected from any send once the client has gone, and
            # Starlette turns it into WebSocketDisconnect. An app that lets that out of its
            # close would end with an unhandled exception behind every server.
            self._notice_gone()  # the failed send is how the server finds out
            raise ClientDisconnected("the client has disconnected")
        if self._state == "closed":
            self._violate(f"sent {kind!r} after the connection was closed", after_close=True)
        handle = _SENDS.get(kind) if isinstance(kind, str) else None
        if handle is None:
            self._violate(f"sent unknown message type {kind!r}")
        await handle(self, message)

    async def _on_accept(self, message: Mapping[str, Any]) -> None:
        """The handshake's answer; failed by the client when it selects what was never
        offered."""
        if self._state != "connecting":
            self._violate("sent 'websocket.accept' twice")
        unoffered = self._unoffered(message)
        if unoffered is not None:
            # What the server would put in its 101 answer, which the client must fail
            # (RFC 6455 §4.1) as the network driver does: the app sees the client gone.
            self._client_gone = True
            self._finish(TransportError(
                f"the app accepted with {unoffered} (RFC 6455 §4.1: the client must fail "
                "the connection)"))
            return
        self._state = "open"
        self._push(Accepted())
        # The 101 is on its way: the client may act (leave, say) before the app's next step,
        # as it can behind a server (uvicorn's websockets-legacy protocol makes the app's next
        # send wait until the handshake is written). Without this turn an app that accepts
        # and closes at once (a refusal) could never meet a client that left in between.
        await asyncio.sleep(0)

    async def _on_send(self, message: Mapping[str, Any]) -> None:
        """A message for the client, held back while the client is behind (backpressure)."""
        if self._state != "open":
            self._violate("sent 'websocket.send' before 'websocket.accept'")
        text, data = message.get("text"), message.get("bytes")
        event: Event
        if isinstance(text, str) and data is None:
            size = length = len(text)
            if length > self._max_message_size // 4:  # UTF-8 needs 1-4 bytes
                size = len(text.encode("utf-8", "surrogatepass"))
            event = Text(text)
        elif isinstance(data, (bytes, bytearray)) and text is None:
            size = length = len(data)
            event = Binary(bytes(data))
        else:
            self._violate("'websocket.send' needs exactly one of 'text' (str) or 'bytes'")
        if size > self._max_message_size:
            self._too_big(size)
            return
        self._unread_bytes += length  # characters for text: what _took subtracts
        self._app_messages += 1
        self._push(event)
        if (len(self._events) > MAX_UNREAD_MESSAGES
                or self._unread_bytes > MAX_UNREAD_BYTES):
            if self._app_messages > FLOOD_FACTOR * self._client_messages:
                self._flood()
                return
            await self._backpressure()

    async def _on_close(self, message: Mapping[str, Any]) -> None:
        """A refusal before the accept, the server's close after it."""
        code = message.get("code")
        code = 1000 if code is None else code  # optional: missing means 1000
        if type(code) is not int or not 1000 <= code <= 4999 or code in _RESERVED_CODES:
            self._violate(f"'websocket.close' code must be a WebSocket close code an "
                          f"endpoint may send (an int, 1000-4999, not 1004-1006 or "
                          f"1015), got {code!r}")
        if self._state == "connecting":
            self._finish(Refused(close_code=code))
        elif self._state == "open":
            # A reason over MAX_CLOSE_REASON bytes of UTF-8 cannot reach the wire: uvicorn
            # with websockets raises into the app and drops the connection (1006), wsproto
            # cuts the reason. Either way the close the app asked for is not the one a client
            # gets: kept whole, so that the checks of that close can fail it
            # (``Closed.reason_size``), which no server's choice would show.
            self._finish(Closed(code, str(message.get("reason") or "")))
        else:
            self._violate("sent 'websocket.close' during a denial response")

    async def _on_response_start(self, message: Mapping[str, Any]) -> None:
        """The start of an HTTP denial response instead of the accept."""
        if self._state != "connecting":
            self._violate("sent 'websocket.http.response.start' after the handshake")
        status = message.get("status")
        if type(status) is not int or not 100 <= status <= 599:
            self._violate(f"'websocket.http.response.start' status must be an HTTP "
                          f"status (an int, 100-599), got {status!r}")
        self._state = "response"
        self._response_status = int(status)

    async def _on_response_body(self, message: Mapping[str, Any]) -> None:
        """Part of the denial response's body; the last part ends the handshake refused."""
        if self._state != "response":
            self._violate("sent 'websocket.http.response.body' before its start")
        if not message.get("more_body", False):
            self._finish(Refused(status=self._response_status))

    def _app_logged(self, record: logging.LogRecord) -> None:
        """A record at ERROR or above the app made (see :mod:`._applog`). Kept once the
        client has left or the connection is over: what the protocol asks there is a quiet
        end; an error logged while serving is the other checks' concern (what they see)."""
        if self._logged is None and (self._client_gone or self._final is not None):
            self._logged = AppLogged(record.levelname, record.name, describe_record(record))

    def _unoffered(self, message: Mapping[str, Any]) -> str | None:
        """What a ``websocket.accept`` selects that the client never offered, in the network
        driver's words; ``None`` when it selects nothing unoffered. The kit offers no
        subprotocol (the scope's ``subprotocols`` is empty) and no extension, so a
        ``subprotocol`` or a ``Sec-WebSocket-Extensions`` / ``-Protocol`` header in the
        accept's ``headers`` is one the server chose alone."""
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self._offered:
            return (f"subprotocol {str(subprotocol)[:80]!r}, a subprotocol the client never "
                    "asked for")
        headers = message.get("headers") or ()
        try:
            pairs = [(bytes(name).lower(), bytes(value)) for name, value in headers]
        except (TypeError, ValueError):
            self._violate("sent 'websocket.accept' headers that are not [name, value] byte "
                          "pairs")
        for name, value in pairs:
            shown = value.decode("latin-1")[:80]
            if name == b"sec-websocket-extensions" and value.strip():
                return (f"Sec-WebSocket-Extensions: {shown!r} in its headers, an extension "
                        "the client never offered")
            if name == b"sec-websocket-protocol" and value.strip() \
                    and value.strip().decode("latin-1") not in self._offered:
                return (f"Sec-WebSocket-Protocol: {shown!r} in its headers, a subprotocol the "
                        "client never asked for")
        return None

    def _violate(self, problem: str, *, after_close: bool = False) -> NoReturn:
        self._violation = _ViolationError(f"ASGI protocol violation: the app {problem}")
        event = ProtocolViolation(f"the app {problem}", after_close)
        if self._final is None:
            self._finish(event)
            if self._client_gone and self._late_error is None:
                # The client left before the connection ended (a handshake that never came,
                # say): it reads no more events, so only finish() can tell it.
                self._late_error = event
        elif self._late_error is None:
            self._late_error = event  # after the close: reported by finish()
        raise self._violation

    def _too_big(self, size: int) -> None:
        """The client fails the connection with 1009, as the network driver does: the app
        sees the client leave, the transcript says why."""
        limit = self._max_message_size
        self._client_gone = True
        self._gone_code = 1009
        self._finish(TransportError(
            f"the app sent a message of {size} bytes, over the client's limit of {limit} "
            "(the client failed the connection with 1009)"))

    def _flood(self) -> None:
        """The client is far behind and the app has sent more than the conversation could
        ask for: it floods. The client stops reading and fails the connection with 1008; the
        unread messages become one :class:`Flooded` event that counts them, so that the
        transcript (and the check's failure) says why, and memory holds none of them."""
        unread = [e for e in self._events if isinstance(e, (Text, Binary))]
        size = sum(len(e.text.encode("utf-8", "surrogatepass")) if isinstance(e, Text)
                   else len(e.data) for e in unread)
        self._events = deque(e for e in self._events if not isinstance(e, (Text, Binary)))
        self._unread_bytes = 0
        self._client_gone = True
        self._gone_code = 1008
        self._finish(Flooded(len(unread), size))

    async def _backpressure(self) -> None:
        """Wait while the client is too far behind (bounded by the client reading or
        leaving; the conversation's own deadlines bound those)."""
        while (len(self._events) > MAX_UNREAD_MESSAGES
               or self._unread_bytes > MAX_UNREAD_BYTES) and not self._client_gone:
            self._writable = self._loop.create_future()
            try:
                await self._writable
            finally:
                self._writable = None
        if self._client_gone:
            self._notice_gone()
            raise ClientDisconnected("the client has disconnected")

    def _took(self, event: Event) -> None:
        """The client read ``event``: account for it, and let a waiting sender go on."""
        if isinstance(event, Text):
            self._unread_bytes -= len(event.text)
        elif isinstance(event, Binary):
            self._unread_bytes -= len(event.data)
        self._unread_bytes = max(self._unread_bytes, 0)
        writable = self._writable
        if writable is not None and not writable.done() and (
                len(self._events) <= MAX_UNREAD_MESSAGES // 2
                and self._unread_bytes <= MAX_UNREAD_BYTES // 2):
            writable.set_result(None)

    def _push(self, event: Event) -> None:
        self._events.append(event)
        if not isinstance(event, Accepted):
            # A sign of life. An accept is not: an app whose framework accepts but whose
            # handler never speaks is as mute as one that never accepts (as a 101 is).
            self._mute.heard()
        self._notify()

    def _finish(self, event: Event) -> None:
        if self._final is not None:
            return
        self._final = event
        self._state = "closed"
        self._push(event)
        if self._receiver is not None and not self._receiver.done():
            self._receiver.set_result({"type": "websocket.disconnect",
                                       "code": self._gone_code})

    def _hold_disconnect(self, grace: float) -> None:
        """The client has vanished, and the app finds out only when a send on this connection
        fails, or after ``grace`` seconds: what a server does that has not read the client's
        FIN or reset yet when another client's message makes the app send to it. The timer
        is the app's pending work, not the kit's: the idle monitor waits for it."""
        self._client_gone = True
        self._gone_code = 1006
        self._unnoticed = self._loop.call_later(grace, self._notice_gone)

    def _notice_gone(self) -> None:
        """End a :meth:`_hold_disconnect`: the app's pending ``receive()`` gets the
        disconnect now (after the failing send has returned to its caller)."""
        timer, self._unnoticed = self._unnoticed, None
        if timer is None:
            return
        timer.cancel()
        if self._receiver is not None and not self._receiver.done():
            self._receiver.set_result({"type": "websocket.disconnect",
                                       "code": self._gone_code})
        self._notify()

    def _release_sender(self) -> None:
        writable = self._writable
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _notify(self) -> None:
        for w in self._waiters:
            if not w.done():
                w.set_result(False)
        self._waiters.clear()
        self._monitor.kick()  # this app may have just become idle, or the whole loop


#: What each ASGI message type the app may send on a WebSocket connection does.
_SENDS: dict[str, Callable[[AppSide, Mapping[str, Any]], Coroutine[Any, Any, None]]] = {
    "websocket.accept": AppSide._on_accept,
    "websocket.send": AppSide._on_send,
    "websocket.close": AppSide._on_close,
    "websocket.http.response.start": AppSide._on_response_start,
    "websocket.http.response.body": AppSide._on_response_body,
}
