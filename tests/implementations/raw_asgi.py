"""A correct implementation in raw ASGI, with no framework at all.

It sends only the keys ASGI requires: ``websocket.accept`` without ``subprotocol`` or
``headers``, ``websocket.send`` with only ``text``, and ``websocket.close`` without ``reason``
(and without ``code`` for a normal closure, which means 1000). It does not speak the lifespan
protocol either (it returns from the lifespan scope, as many small apps do). So it checks that
the kit accepts every minimal message the ASGI spec allows.

The app is a class whose methods are the seams of the protocol (the reply text, what counts as
the bye word, how credentials are read, how a refusal is sent...). The broken apps in
``tests/broken`` each override exactly one seam to introduce exactly one defect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")


class ClientGone(Exception):
    """The client disconnected; the conversation ends quietly."""


class Conn:
    """One WebSocket connection: the ASGI callables plus the minimal messages."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send

    async def accept(self) -> None:
        await self._send({"type": "websocket.accept"})

    async def close(self, code: int = 1000) -> None:
        message: Message = {"type": "websocket.close"}
        if code != 1000:  # an absent code means 1000
            message["code"] = code
        try:
            await self._send(message)
        except OSError as exc:  # the client left first
            raise ClientGone from exc

    async def send_text(self, text: str) -> None:
        try:
            await self._send({"type": "websocket.send", "text": text})
        except OSError as exc:  # ASGI 2.4: a send to a vanished client raises an OSError
            raise ClientGone from exc

    async def receive(self) -> str | bytes:
        """The next text (``str``) or binary (``bytes``) message; raises on disconnect."""
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            raise ClientGone
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")


class ChatApp:
    """The reference protocol (``protocol.md``) as a raw ASGI application."""

    echo_path = "/ws"
    auth_path = "/item/ws"
    bye_word = "bye"
    farewells: tuple[str, ...] = FAREWELLS
    bye_close_code = 1000
    binary_close_code = 1003
    denied_close_code = 1008

    #: The connection wrapper of every endpoint: a broken app swaps it to change how all of
    #: them send or close.
    conn_type: type[Conn] = Conn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            conn = self.conn_type(scope, receive, send)
            await receive()  # websocket.connect
            try:
                if scope["path"] == self.echo_path:
                    await self.echo(conn)
                elif scope["path"] == self.auth_path:
                    await self.auth(conn)
                else:
                    await conn.close(1008)  # before accept: a 403 on the wire
            except ClientGone:
                return
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"not found"})
        # lifespan: not supported, so simply return (servers and the kit carry on without it)

    # --- /ws -------------------------------------------------------------------------------

    def reply(self, text: str) -> str:
        """The echo of an ordinary message."""
        return PREFIX + text

    def is_bye(self, text: str) -> bool:
        return text == self.bye_word

    async def echo(self, conn: Conn) -> None:
        await conn.accept()
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await self.on_binary(conn, message)
                return
            if self.is_bye(message):
                await self.say_bye(conn)
                return
            await self.send_reply(conn, self.reply(message))

    async def send_reply(self, conn: Conn, text: str) -> None:
        await conn.send_text(text)

    async def on_binary(self, conn: Conn, data: bytes) -> None:
        """A binary message, on either endpoint: the close that ends the conversation."""
        await conn.close(self.binary_close_code)

    async def say_bye(self, conn: Conn) -> None:
        for farewell in self.farewells:
            await self.send_reply(conn, farewell)
        await conn.close(self.bye_close_code)

    # --- /item/ws --------------------------------------------------------------------------

    def cookies(self, scope: Scope) -> dict[str, str]:
        cookies: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name.lower() != b"cookie":
                continue
            for chunk in value.decode("latin-1").split(";"):
                key, sep, val = chunk.partition("=")
                if sep:
                    val = val.strip()
                    if len(val) >= 2 and val[0] == val[-1] == '"':  # a quoted value
                        val = val[1:-1]
                    cookies[key.strip()] = val
        return cookies

    def query(self, scope: Scope) -> dict[str, str]:
        """The query parameters, percent-decoded; the last of repeated keys wins."""
        raw = scope.get("query_string", b"").decode("latin-1")
        return dict(parse_qsl(raw, keep_blank_values=True))

    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        """Present counts, even empty: the tutorial tests ``is None``."""
        return cookie is not None or token is not None

    def credential(self, cookie: str | None, token: str | None) -> str | None:
        """The credential to render: Python's ``cookie or token``."""
        return cookie or token

    def parse_q(self, raw: str) -> int | None:
        """The integer ``q`` stands for, or None when it is refused."""
        if not raw.isascii():
            return None
        try:
            return int(raw)
        except ValueError:
            return None

    async def refuse(self, conn: Conn) -> None:
        """Accept, then close with 1008, so the code reaches every client."""
        await conn.accept()
        await conn.close(self.denied_close_code)

    def auth_replies(self, credential: str | None, raw_q: str | None, q: int | None,
                     message: str) -> list[str]:
        replies = [f"Session cookie or query token value is: {credential}"]
        if raw_q is not None:
            replies.append(f"parameter q is: {q}")
        replies.append(f"Message text was: {message}, for : {q}")
        return replies

    async def auth(self, conn: Conn) -> None:
        query = self.query(conn.scope)
        cookie = self.cookies(conn.scope).get("session")
        token = query.get("token")
        raw_q = query.get("q")
        q = None if raw_q is None else self.parse_q(raw_q)
        if not self.has_credentials(cookie, token) or (raw_q is not None and q is None):
            await self.refuse(conn)
            return
        credential = self.credential(cookie, token)
        await conn.accept()
        while True:
            message = await conn.receive()
            if isinstance(message, bytes):
                await self.on_binary(conn, message)
                return
            await self.on_auth_message(conn, credential, raw_q, q, message)

    async def on_auth_message(self, conn: Conn, credential: str | None, raw_q: str | None,
                              q: int | None, message: str) -> None:
        for text in self.auth_replies(credential, raw_q, q, message):
            await self.send_reply(conn, text)


app = ChatApp()
