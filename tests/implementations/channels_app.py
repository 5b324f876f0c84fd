"""A correct implementation on Django Channels: two ``AsyncWebsocketConsumer`` classes behind
``ProtocolTypeRouter``, ``CookieMiddleware`` and ``URLRouter``, with Django configured in code.

The cookie comes from ``scope["cookies"]`` (Django's ``parse_cookie``: the last of two cookies
of one name wins, quotes removed, no percent-decoding) and the query from Django's
``QueryDict``. The router has no lifespan application: Channels refuses the lifespan scope,
and the app is served without one, as uvicorn's ``lifespan="auto"`` does. The refusal accepts
first and then closes with 1008, like the reference app.

A consumer is handed the messages its client sent before a close (after a ``bye``, say), so
it must not answer them; and those queued after its client left, when its ``send()``
raises (ASGI 2.4 asks servers to raise an ``OSError`` there): both consumers share a
``close()`` and a ``send()`` that end quietly then (a close too: a client may drop right
after a binary message or a refused handshake, before the close), without
which the app fails ``robust.disconnect`` in-process and logs tracebacks under uvicorn.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], INSTALLED_APPS=[],
                       USE_TZ=True, SECRET_KEY="wscheck-tests-only")
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.sessions import CookieMiddleware
from django.http import QueryDict
from django.urls import path

PREFIX = "接收到的消息是:"
FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")


class Quiet(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A consumer that sends nothing once it closed (the messages the client sent before
    the close are still dispatched to it), and whose sends to a client that has left are
    dropped, not raised."""

    closed = False

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if not self.closed:
            self.closed = True
            try:
                await super().close(code, reason)
            except OSError:  # the client left just before: its close has nowhere to go
                return

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool | int = False) -> None:
        if self.closed:
            return
        try:
            await super().send(text_data, bytes_data, close)
        except OSError:  # the client left (ASGI 2.4): nothing to do for it any more
            return


class Echo(Quiet):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None,
                      bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.close(1003)
        elif text_data == "bye":
            for farewell in FAREWELLS:
                await self.send(text_data=farewell)
            await self.close(1000)
        else:
            await self.send(text_data=PREFIX + text_data)


def _q(raw: str) -> int | None:
    try:
        return int(raw) if raw.isascii() else None
    except ValueError:
        return None


class Item(Quiet):
    credential: str | None
    raw_q: str | None
    q: int | None

    async def connect(self) -> None:
        scope: dict[str, Any] = self.scope
        query = QueryDict(scope["query_string"])
        session = scope["cookies"].get("session")
        token = query.get("token")
        self.raw_q = query.get("q")
        self.q = None if self.raw_q is None else _q(self.raw_q)
        self.credential = session or token
        await self.accept()
        if (session is None and token is None) or (self.raw_q is not None and self.q is None):
            await self.close(1008)

    async def receive(self, text_data: str | None = None,
                      bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.close(1003)
            return
        await self.send(text_data=f"Session cookie or query token value is: {self.credential}")
        if self.raw_q is not None:
            await self.send(text_data=f"parameter q is: {self.q}")
        await self.send(text_data=f"Message text was: {text_data}, for : {self.q}")


app = ProtocolTypeRouter({
    "websocket": CookieMiddleware(URLRouter([
        path("ws", Echo.as_asgi()),
        path("item/ws", Item.as_asgi()),
    ])),
})
