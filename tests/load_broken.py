"""Servers that are wrong only under load: each passes the ordinary suite, and fails
``wscheck load`` on the kind of difference its defect makes.

They are the raw-ASGI chat app (``tests/implementations/raw_asgi.py``) with one seam
overridden, like the apps in ``tests/broken``, but their defects need a crowd: many
connections open at once, messages arriving within the same few milliseconds, or more
sessions than a suite run opens. Each is a class, so that every test serves a fresh
instance (the defects live in instance state); the thresholds are constructor arguments,
and the tests check that the suite stays below them.

A crowd forms by construction, not by the luck of timing: how many connections a load run
holds open at once on its own depends on how fast the machine is and on the workload's mix
(on a busy machine 400 users held anywhere from 40 to 300). So the crowded servers queue
their replies once more connections are open than the suite ever opens (half the crowd),
until the crowd is there: a held reply keeps its connection open, every user that connects
meanwhile is held too, and as a run has more users than the crowd, the crowd forms as soon
as that many have connected. Each wait is bounded by ``patience``, below the client's
timeout, so a queued reply is late, never missing.
"""

from __future__ import annotations

import asyncio
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
        self.opened()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.open -= 1

    def opened(self) -> None:
        """Called when a session has been counted, in the server's event loop."""


class Crowded(Counting):
    """A server whose defect shows while ``crowd`` connections or more are open, and which
    gathers that crowd (see the module docstring): while more than half of it is open, a
    reply waits until the whole crowd is, at most ``patience`` seconds."""

    def __init__(self, crowd: int, patience: float = 1.0) -> None:
        super().__init__()
        self.crowd = crowd
        self.patience = patience
        self.held = 0  # replies that waited for the crowd
        self.formed = 0  # times the crowd formed while replies waited for it
        self.formed_after = -1.0  # seconds from the first session to the first crowd
        self._first = 0.0
        self._gathered: asyncio.Event | None = None

    @property
    def crowded(self) -> bool:
        return self.open >= self.crowd

    def opened(self) -> None:
        if self.sessions == 1:
            self._first = time.monotonic()
        if self.crowded and self._gathered is not None:
            if not self.formed:
                self.formed_after = round(time.monotonic() - self._first, 2)
            self.formed += 1
            self._gathered.set()  # every reply waiting goes now, while the crowd is there
            self._gathered = None

    async def gather(self) -> bool:
        """Wait for the crowd when it is half there (never in the suite, which stays below
        half of it); whether the reply is due in a crowd. A reply the crowd released is:
        the crowd was there when it formed, though a connection may close before the
        reply's turn comes and leave one short."""
        if self.crowded or self.open * 2 <= self.crowd:
            return self.crowded
        if self._gathered is None:
            self._gathered = asyncio.Event()
        self.held += 1
        try:
            await asyncio.wait_for(self._gathered.wait(), self.patience)
        except TimeoutError:
            return self.crowded
        return True


class Crosstalk(Crowded):
    """Defect: one app-wide "last sender" slot. When a reply is due within ``window`` seconds
    of the previous one, for another connection, while ``crowd`` connections are open, it
    goes to the previous sender's connection instead: a reply sent to the wrong client when
    two messages arrive within a few milliseconds. (When the crowd forms, the replies that
    waited for it go out one after the other, well within the window.)"""

    def __init__(self, crowd: int = 160, window: float = 0.01) -> None:
        super().__init__(crowd)
        self.window = window
        self.last: tuple[float, Conn] | None = None
        self.misrouted = 0

    async def send_reply(self, conn: Conn, text: str) -> None:
        crowded = await self.gather()
        now = time.monotonic()
        last, self.last = self.last, (now, conn)
        if (last is not None and last[1] is not conn and now - last[0] < self.window
                and crowded):
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


class DropsWhenCrowded(Crowded):
    """Defect: while ``crowd`` connections or more are open, replies are dropped (a send
    buffer shared by all connections, sized for fewer of them, that overflows silently): a
    server that starts losing messages above some number of connections."""

    def __init__(self, crowd: int = 160) -> None:
        super().__init__(crowd)
        self.dropped = 0

    async def send_reply(self, conn: Conn, text: str) -> None:
        if await self.gather():
            self.dropped += 1
            return
        await conn.send_text(text)


#: name -> (factory, the kind of difference ``wscheck load`` must report, the conversation
#: kinds it may show on, every kind of difference the same defect can make, in the load run
#: and when the example is replayed). A defect shows at whatever step the crowd meets: a
#: dropped or misrouted reply is silence where nothing follows it, a later reply arriving in
#: its place (text out of order), or the close after ``bye`` arriving where the farewell was
#: due; a misrouted reply is also a wrong text where the other client's own reply was due, or
#: an unexpected text after its last one. The generated workload sends no binary message, so
#: the only close that follows a reply is the farewell's.
LOAD_DEFECTS: dict[str, tuple[Any, str, set[str], set[str]]] = {
    "crosstalk": (Crosstalk, "wrong text", {"echo", "bye", "credentials", "q"},
                  {"wrong text", "unexpected text", "silence instead of text",
                   "text out of order", "close 1000 instead of text"}),
    "leaks_after_sessions": (LeaksAfterSessions, "wrong text", {"credentials", "q"},
                             {"wrong text"}),
    "drops_when_crowded": (DropsWhenCrowded, "silence instead of text",
                           {"echo", "bye", "credentials", "q"},
                           {"silence instead of text", "text out of order",
                            "close 1000 instead of text"}),
}
