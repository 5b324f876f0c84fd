"""Servers that are wrong only under load: each passes the ordinary suite, and fails
``wscheck load`` on the kind of difference its defect makes.

They are the raw-ASGI chat app (``tests/implementations/raw_asgi.py``) with one seam
overridden, like the apps in ``tests/broken``, but their defects need a crowd: many
connections open at once, messages arriving within the same few milliseconds, or more
sessions than a suite run opens. Each is a class, so that every test serves a fresh
instance (the defects live in instance state); the thresholds are constructor arguments,
and the tests check that the suite stays below them.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn, Receive, Scope, Send


class Counting(ChatApp):
    """Counts WebSocket sessions: open now, the most open at once, and all so far."""

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0
        self.sessions = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        self.sessions += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.open -= 1


class Crosstalk(Counting):
    """Defect: one app-wide "last sender" slot. When a reply is due within ``window`` seconds
    of the previous one, for another connection, while ``crowd`` connections are open, it
    goes to the previous sender's connection instead: a reply sent to the wrong client when
    two messages arrive within a few milliseconds (wide enough that a busy machine still
    brings replies that close together while the crowd is there)."""

    def __init__(self, crowd: int = 130, window: float = 0.01) -> None:
        super().__init__()
        self.crowd = crowd
        self.window = window
        self.last: tuple[float, Conn] | None = None
        self.misrouted = 0

    async def send_reply(self, conn: Conn, text: str) -> None:
        now = time.monotonic()
        last, self.last = self.last, (now, conn)
        if (last is not None and last[1] is not conn and now - last[0] < self.window
                and self.open >= self.crowd):
            self.misrouted += 1
            with contextlib.suppress(ClientGone, RuntimeError):  # gone: the reply is lost
                await last[1].send_text(text)
            return
        await conn.send_text(text)


class LeaksAfterSessions(Counting):
    """Defect: after ``after`` sessions, a per-app cache meant to speed up credential
    parsing starts answering with the credential of the previous session with credentials:
    state shared between connections that only shows after thousands of sessions."""

    def __init__(self, after: int = 1000) -> None:
        super().__init__()
        self.after = after
        self.previous: str | None = None

    def credential(self, cookie: str | None, token: str | None) -> str | None:
        current = super().credential(cookie, token)
        shown = self.previous if self.sessions > self.after else current
        self.previous = current
        return shown


class DropsWhenCrowded(Counting):
    """Defect: while more than ``crowd`` connections are open, replies are dropped (a send
    buffer shared by all connections, sized for ``crowd`` of them, that overflows silently):
    a server that starts losing messages above some number of connections."""

    def __init__(self, crowd: int = 160) -> None:
        super().__init__()
        self.crowd = crowd
        self.dropped = 0

    async def send_reply(self, conn: Conn, text: str) -> None:
        if self.open > self.crowd:
            self.dropped += 1
            return
        await conn.send_text(text)


#: name -> (factory, the kind of difference ``wscheck load`` must report, the conversation
#: kinds it may show on, every kind of difference the same defect can make when the example
#: is replayed). A replay is the example's conversation said by a crowd again, so it shows
#: the defect, though not always at the same step: a dropped reply to a message is silence,
#: a dropped farewell after ``bye`` is the close arriving where the farewell was due.
LOAD_DEFECTS: dict[str, tuple[Any, str, set[str], set[str]]] = {
    "crosstalk": (Crosstalk, "wrong text", {"echo", "bye", "credentials", "q"},
                  {"wrong text"}),
    "leaks_after_sessions": (LeaksAfterSessions, "wrong text", {"credentials", "q"},
                             {"wrong text"}),
    "drops_when_crowded": (DropsWhenCrowded, "silence instead of text",
                           {"echo", "bye", "credentials", "q"},
                           {"silence instead of text", "close 1000 instead of text"}),
}
