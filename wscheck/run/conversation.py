"""Running conversations: drive them, record the transcript, ask the model what it should be.

This is the only place where conversations, drivers and the model meet. Checks build
conversations and judge :class:`Observation` values; drivers only move messages.

The stepping API is :class:`Exchange`: a connection with the transcript observed on it so
far, read a given number of events at a time, stopping at an event after which nothing more
can be read (a close, a refusal, silence). Every piece of the kit that drives a connection by
hand (a check that sends in steps, the interleaved clients, the state machine) reads through
it, so the rule of when to stop reading is written once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType

from wscheck.core.events import (
    FINAL_EVENTS,
    Action,
    Binary,
    ClientClose,
    Conversation,
    Drop,
    Event,
    SendBytes,
    SendText,
    Silence,
    Text,
    Transcript,
    describe,
)
from wscheck.core.limits import KEEP_LENGTH, clip_kept
from wscheck.core.render import render_conversation, side_by_side
from wscheck.core.spec import Spec
from wscheck.drivers._idle import pause
from wscheck.drivers.base import Connection, Driver
from wscheck.model.echo import ModelConnection

__all__ = [
    "ENDS_READING",
    "MAX_EXTRA_BYTES",
    "MAX_EXTRA_EVENTS",
    "Exchange",
    "Observation",
    "drain",
    "interleave",
    "keep_limit",
    "kept",
    "pause",
    "perform",
    "run_conversation",
]

#: How many unexpected events a conversation records before it stops listening (a server
#: that floods must not keep a check busy forever).
MAX_EXTRA_EVENTS = 100

#: How many bytes (characters for text) of unexpected messages a conversation records before
#: it stops listening: a hundred extra messages of the maximum size must not fill memory.
MAX_EXTRA_BYTES = 4 * 1024 * 1024

#: Events after which a connection has nothing more to say: final events, and silence where
#: an answer was due.
ENDS_READING = (*FINAL_EVENTS, Silence)


@dataclass(frozen=True)
class Observation:
    """A conversation with the transcript the model expects and the one observed.

    ``aftermath`` is what the server did once the conversation was over (an exception on the
    way out, a message after the close), kept apart because only robustness checks judge it.
    """

    conversation: Conversation
    expected: Transcript
    observed: Transcript
    aftermath: Event | None = None

    @property
    def ok(self) -> bool:
        return self.expected == self.observed

    def __str__(self) -> str:
        """The conversation, then expected and observed side by side with the first
        difference marked: what the suite prints, so ``assert obs.ok, obs`` says it too."""
        lines = ["conversation:", render_conversation(self.conversation), "",
                 side_by_side(self.expected, self.observed)]
        if self.aftermath is not None:
            lines += ["", "after the conversation, on the server side: "
                      + describe(self.aftermath)]
        return "\n".join(lines)


async def perform(connection: Connection, action: Action) -> None:
    """Do one client action on an open connection."""
    match action:
        case SendText(text):
            await connection.send_text(text)
        case SendBytes(data):
            await connection.send_bytes(data)
        case ClientClose(code):
            await connection.close(code)
        case Drop():
            await connection.drop()


@dataclass
class Exchange:
    """A connection and what was observed on it so far (see the module docstring)."""

    connection: Connection
    observed: list[Event] = field(default_factory=list)
    #: Texts longer than this are recorded clipped (see :func:`keep_limit`).
    keep: int = KEEP_LENGTH

    @classmethod
    async def open(cls, driver: Driver, conversation: Conversation) -> Exchange:
        """Connect as ``conversation`` says; the handshake is the first event observed."""
        conn = await driver.connect(conversation.path, conversation.query,
                                    conversation.cookies, origin=conversation.origin)
        keep = keep_limit(conversation)
        # A network connection can clip a long text while it arrives rather than after it
        # is whole (several connections each holding a 16 MiB reply at once, otherwise).
        clip_texts_beyond = getattr(conn, "clip_texts_beyond", None)
        if clip_texts_beyond is not None:
            clip_texts_beyond(keep)
        return cls(conn, [conn.handshake], keep)

    @property
    def listening(self) -> bool:
        """Whether the connection may still say something (nothing ended the reading)."""
        return not self.observed or not isinstance(self.observed[-1], ENDS_READING)

    @property
    def ended(self) -> bool:
        """Whether the last event observed is final (the server or the transport ended it)."""
        return bool(self.observed) and isinstance(self.observed[-1], FINAL_EVENTS)

    async def read(self, count: int) -> bool:
        """Read up to ``count`` events, fewer when one ends the reading; returns
        :attr:`listening`."""
        for _ in range(count):
            if not self.listening:
                break
            self.observed.append(kept(await self.connection.receive(), self.keep))
        return self.listening

    async def drain(self) -> None:
        """Record whatever else the server sends until it is quiet (see :func:`drain`)."""
        await drain(self.connection, self.observed, self.keep)

    async def __aenter__(self) -> Exchange:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Abandoned midway (cancelled because an example ran out of time, or failed): drop
        the connection, so that nothing of the conversation runs on at the target."""
        if exc is not None:
            await self.connection.drop()


async def run_conversation(
    driver: Driver, spec: Spec, conversation: Conversation, *, quiet: bool = True
) -> Observation:
    """Run ``conversation`` on ``driver`` and return what happened next to what should have.

    In lock-step mode the replies the model predicts for each message are read before the next
    is sent; pipelined, everything is sent first. Either way, once the predicted events are in,
    ``quiet`` waits (the driver's quiet window, instant in-process when the app is idle) for
    anything unexpected, so that an extra or unsolicited message is observed, not missed.
    """
    model = ModelConnection(spec, conversation)
    expected: list[Event] = list(model.open())
    async with await Exchange.open(driver, conversation) as ex:
        # The handshake may already carry the server's first move (accept, then close 1008).
        pending = len(expected) - 1
        if ex.listening and pending and not conversation.pipelined:
            await ex.read(pending)
            pending = 0
        left = False
        for action in conversation.actions:
            replies = model.step(action)
            if left:
                continue
            leaving = isinstance(action, (ClientClose, Drop))
            if leaving and ex.listening and pending:
                if isinstance(action, Drop) and action.in_flight:
                    del expected[len(ex.observed):]  # replies in flight cannot be observed
                    replies = ()
                else:
                    await ex.read(pending)
                pending = 0
            expected.extend(replies)
            await perform(ex.connection, action)
            left = leaving
            if left:
                continue
            if conversation.pipelined:
                pending += len(replies)
            elif ex.listening and replies:
                await ex.read(len(replies))
        if ex.listening and pending and not left:
            await ex.read(pending)
        if ex.listening and quiet and not left:
            await ex.drain()
        if not left and not ex.ended:
            await ex.connection.close()
        aftermath = await ex.connection.finish()
    return Observation(conversation, tuple(expected), tuple(ex.observed), aftermath)


def keep_limit(conversation: Conversation) -> int:
    """The longest text a transcript of ``conversation`` keeps whole: ``KEEP_LENGTH`` beyond
    everything the conversation sends (messages, query and cookie values). A reply the model
    predicts is a template around those, so it is never longer, and a verdict never depends
    on a text clipped by this bound: a longer text differs from every prediction."""
    sent = sum(len(a.text) if isinstance(a, SendText) else len(a.data)
               for a in conversation.actions if isinstance(a, (SendText, SendBytes)))
    sent += sum(len(k) + len(v) for k, v in (*conversation.query, *conversation.cookies))
    return KEEP_LENGTH + sent


def kept(event: Event, keep: int = KEEP_LENGTH) -> Event:
    """``event`` as a transcript keeps it: a text longer than ``keep`` clipped to its head,
    tail, length and SHA-256 digest (:func:`~wscheck.core.limits.clip_kept`), so that the
    transcripts of failing checks, which the run keeps for its reports, stay small."""
    if isinstance(event, Text) and len(event.text) > keep:
        return Text(clip_kept(event.text))
    return event


async def drain(connection: Connection, observed: list[Event],
                keep: int = KEEP_LENGTH) -> None:
    """Record whatever else the server sends until it is quiet (at most
    ``MAX_EXTRA_EVENTS`` events and about ``MAX_EXTRA_BYTES``), so that a check judging only
    some lines still sees all of them: one extra line shifts the rest past the replies that
    were read."""
    size = 0
    for _ in range(MAX_EXTRA_EVENTS):
        extra = await connection.quiet()
        if extra is None:
            return
        observed.append(kept(extra, keep))
        if isinstance(extra, FINAL_EVENTS):
            return
        if isinstance(extra, Text):
            size += extra.chars
        elif isinstance(extra, Binary):
            size += len(extra.data)
        if size >= MAX_EXTRA_BYTES:
            return


async def interleave(driver: Driver, spec: Spec,
                     conversations: list[Conversation]) -> list[Observation]:
    """Run lock-step text conversations side by side: every client sends its n-th message,
    then every client reads its replies, round after round."""
    models = [ModelConnection(spec, c) for c in conversations]
    expected = [list(m.open()) for m in models]
    exchanges = await _open_all(driver, conversations)
    try:
        for i in range(max(len(c.actions) for c in conversations)):
            counts = []
            for conv, model, ex, exp in zip(conversations, models, exchanges, expected):
                action = conv.actions[i] if i < len(conv.actions) else None
                replies = model.step(action) if action is not None else ()
                exp.extend(replies)
                counts.append(len(replies))
                if isinstance(action, SendText):
                    await ex.connection.send_text(action.text)
            # Every client reads at once: a silent server costs one timeout a round, not one
            # a client.
            await asyncio.gather(*(ex.read(n) for ex, n in zip(exchanges, counts)))
        await asyncio.gather(*(ex.drain() for ex in exchanges if ex.listening))
    finally:
        await asyncio.gather(*(ex.connection.close() for ex in exchanges))
    return [Observation(c, tuple(e), tuple(ex.observed))
            for c, e, ex in zip(conversations, expected, exchanges)]


async def _open_all(driver: Driver, conversations: list[Conversation]) -> list[Exchange]:
    """Open every conversation at once; when one connect fails, close those that opened
    (they would otherwise stay open on the target) and raise the first failure."""
    opened = await asyncio.gather(*(Exchange.open(driver, c) for c in conversations),
                                  return_exceptions=True)
    failures = [r for r in opened if isinstance(r, BaseException)]
    if failures:
        await asyncio.gather(*(r.connection.close() for r in opened
                               if isinstance(r, Exchange)))
        raise failures[0]
    return [r for r in opened if isinstance(r, Exchange)]
