"""Small raw ASGI apps for the kit's own tests (driver, plugin and CLI tests).

Raw callables, no framework: each one does exactly one thing the ASGI spec allows (or one
thing it forbids), so a driver test knows precisely what the app sent. :class:`ChatApp` is a
bare-ASGI implementation of the whole protocol for any :class:`~wscheck.core.spec.Spec`, with
knobs that break it on purpose.

The module imports only the standard library and :mod:`wscheck.core.spec`, so plugin and CLI tests
copy this file into their scratch directory and name targets such as ``wsapps:stripping_app``
without putting the kit's checkout on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from wscheck.core.spec import Spec

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Scope = MutableMapping[str, Any]

# --- single-behaviour apps for the in-process driver -----------------------------------------


async def close_without_code(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts, and on the first message closes with a bare ``websocket.close`` (no code, no
    reason): ASGI says that means 1000."""
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    await send({"type": "websocket.close"})


async def text_and_bytes(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers every text message with a text and a binary message."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": "text:" + message["text"]})
        await send({"type": "websocket.send", "bytes": message["text"].encode() + b"\x00\xff"})


def close_before_accept(code: int | None) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Closes the handshake without accepting; ``code=None`` leaves the key out."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        message: Message = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        await send(message)

    return app


async def denial_response(scope: Scope, receive: Receive, send: Send) -> None:
    """Refuses the handshake with an HTTP response (the denial-response extension), its body
    in two parts."""
    await receive()
    await send({"type": "websocket.http.response.start", "status": 401,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"away"})


async def crash_on_message(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    raise LookupError("no such chat room")


async def crash_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise ZeroDivisionError("division by zero")


async def send_before_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.send", "text": "too early"})


async def send_after_close(scope: Scope, receive: Receive, send: Send) -> None:
    """Closes on the first message, then sends once more (the violation ASGI servers raise
    on); the exception it gets back is swallowed, as a sloppy app would."""
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    await send({"type": "websocket.close", "code": 1000})
    try:
        await send({"type": "websocket.send", "text": "one more thing"})
    except Exception:
        return


async def return_without_closing(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await receive()


async def never_accept(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the connect event, then waits for the client without ever answering."""
    await receive()
    await receive()


async def silent(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts and never says anything, until the client leaves."""
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def ticking() -> None:
    """Wake every 10 ms, forever: a timer of the app is always due before any wait's deadline,
    so the in-process driver cannot know the app idle and waits out every deadline, as a
    network client does. (A single long sleep would not do: silence before an app's next
    timer is known at once.)"""
    while True:
        await asyncio.sleep(0.01)


async def busy_silent(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts and never answers, while looking busy (a long timer), so that no in-process
    shortcut can tell it is silent: only a deadline can."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.sleep(3600)


async def slow_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes each text message after thinking for 50 ms (an app waiting on a timer)."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await asyncio.sleep(0.05)
        await send({"type": "websocket.send", "text": message["text"]})


async def unsolicited_later(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts, and a background task sends a text 100 ms later, unasked."""
    await receive()
    await send({"type": "websocket.accept"})

    async def later() -> None:
        await asyncio.sleep(0.1)
        await send({"type": "websocket.send", "text": "unsolicited"})

    task = asyncio.ensure_future(later())
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        task.cancel()


def _broker(sock: socket.socket) -> None:
    with sock, sock.makefile("rb") as lines, contextlib.suppress(OSError):
        for line in lines:
            time.sleep(0.05)
            sock.sendall(b"relayed:" + line)


async def broker_relay(scope: Scope, receive: Receive, send: Send) -> None:
    """Relays every message through a loopback socket to a broker thread that answers 50 ms
    later, and a background task forwards the broker's answers to the client: the shape of a
    chat behind a pub/sub broker. While a reply is on its way the handler waits in
    ``receive()``; the reply is pending I/O, not a timer."""
    await receive()
    await send({"type": "websocket.accept"})
    ours, theirs = socket.socketpair()
    threading.Thread(target=_broker, args=(theirs,), daemon=True).start()
    reader, writer = await asyncio.open_connection(sock=ours)

    async def forward() -> None:
        while line := await reader.readline():
            await send({"type": "websocket.send", "text": line.decode().rstrip("\n")})

    task = asyncio.ensure_future(forward())
    try:
        while (message := await receive())["type"] != "websocket.disconnect":
            writer.write(message["text"].encode() + b"\n")
            await writer.drain()
    finally:
        task.cancel()
        writer.close()


class DropRecorder:
    """Records what it gets after the client vanished: the disconnect message, and the
    exception raised by a send attempted after it."""

    def __init__(self) -> None:
        self.disconnect: Message | None = None
        self.send_error: BaseException | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnect = dict(message)
                break
        try:
            await send({"type": "websocket.send", "text": "anyone there?"})
        except BaseException as exc:
            self.send_error = exc


class LifespanRecorder:
    """Supports lifespan: startup puts a greeting into the lifespan state, every WebSocket
    connection is greeted with it from ``scope["state"]``."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.events.append("startup")
                    scope["state"]["greeting"] = "hello from startup"
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["state"]["greeting"]})
        while (await receive())["type"] != "websocket.disconnect":
            pass


async def no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw app that ignores lifespan by returning at once, as many do."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "no lifespan here"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def failing_startup(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise ConnectionRefusedError("database unreachable")
    await receive()
    await send({"type": "websocket.close"})


# --- the whole protocol, bare ---------------------------------------------------------------

_CANONICAL = re.compile(r"0|-?[1-9][0-9]*")


class ChatApp:
    """The chat protocol of ``spec`` as a bare ASGI app.

    Knobs break it on purpose: ``strip`` trims every message on the echo endpoint before
    looking at it; ``refuse_before_accept`` refuses missing credentials by closing before the
    accept (conforming, but the 1008 is lost on the wire: a SHOULD); ``needs_lifespan`` makes
    every connection depend on state set by the lifespan startup; ``binary_code`` replaces
    the spec's close code for binary messages.
    """

    def __init__(self, spec: Spec | None = None, *, strip: bool = False,
                 refuse_before_accept: bool = False, needs_lifespan: bool = False,
                 binary_code: int | None = None) -> None:
        self.spec = spec or Spec()
        self.strip = strip
        self.binary_code = binary_code
        self.refuse_before_accept = refuse_before_accept
        self.needs_lifespan = needs_lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "websocket":
            return
        if self.needs_lifespan and scope.get("state", {}).get("ready") is not True:
            raise RuntimeError("the lifespan startup did not run")
        await receive()  # websocket.connect
        echo, auth = self.spec.echo, self.spec.auth
        try:
            if echo is not None and scope["path"] == echo.url_path():
                await self._echo(receive, send)
            elif auth is not None and scope["path"] == auth.url_path():
                await self._auth(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
        except OSError:
            return  # the client went away while we were sending: end quietly

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["ready"] = True
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _echo(self, receive: Receive, send: Send) -> None:
        echo = self.spec.echo
        assert echo is not None
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                code = self.binary_code or echo.binary_close_code
                await send({"type": "websocket.close", "code": code})
                return
            if self.strip:
                text = text.strip()
            if echo.bye is not None and text == echo.bye:
                for farewell in echo.farewells:
                    await send({"type": "websocket.send", "text": farewell})
                await send({"type": "websocket.close", "code": echo.bye_close_code})
                return
            await send({"type": "websocket.send", "text": echo.render_reply(text)})

    async def _auth(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = self.spec.auth
        assert auth is not None
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        cookies: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"cookie":
                for part in value.decode().split(";"):
                    key, sep, val = part.partition("=")
                    if not sep:  # a nameless cookie
                        continue
                    val = val.strip()
                    if len(val) >= 2 and val[0] == val[-1] == '"':  # a quoted value
                        val = val[1:-1]
                    cookies[key.strip()] = val
        cookie, token, raw_q = cookies.get(auth.cookie), query.get(auth.token), query.get(auth.q)
        refused = cookie is None and token is None
        if raw_q is not None and not _CANONICAL.fullmatch(raw_q):
            refused = True
        if refused:
            if not self.refuse_before_accept:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": auth.denied_close_code})
            return
        q = int(raw_q) if raw_q is not None else None
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                code = self.binary_code or auth.binary_close_code
                await send({"type": "websocket.close", "code": code})
                return
            replies = [auth.render(auth.credential_reply, credential=cookie or token)]
            if raw_q is not None:
                replies.append(auth.render(auth.q_reply, q=q))
            replies.append(auth.render(auth.message_reply, message=text, q=q))
            for reply in replies:
                await send({"type": "websocket.send", "text": reply})


#: Conforming.
class MuteAfterProbe(ChatApp):
    """The whole protocol for the first connection (the run's probe), then mute: every later
    connection awaits forever, without blocking the loop (no watchdog) and without sitting in
    ``receive()`` (no in-process idle shortcut). ``accept`` says whether it accepts first."""

    def __init__(self, *, accept: bool) -> None:
        super().__init__()
        self.accept = accept
        self.connections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        self.connections += 1
        if self.connections == 1:
            await super().__call__(scope, receive, send)
            return
        await receive()
        if self.accept:
            await send({"type": "websocket.accept"})
        await asyncio.Event().wait()


mute_after_probe = MuteAfterProbe(accept=False)
mute_after_accept = MuteAfterProbe(accept=True)

app = ChatApp()
#: Trims messages on the echo endpoint: fails the whitespace, newline and exact-bye checks.
stripping_app = ChatApp(strip=True)
#: Refuses missing credentials before accepting: conforming, with a SHOULD-level warning.
refusing_app = ChatApp(refuse_before_accept=True)
#: Closes with 1000 on a binary message instead of 1003: a SHOULD-level failure only.
wrong_binary_app = ChatApp(binary_code=1000)
#: Works only when the lifespan startup ran.
stateful_app = ChatApp(needs_lifespan=True)


def create_app() -> ChatApp:
    """A factory, for ``wsapps:create_app()`` targets."""
    return ChatApp()
