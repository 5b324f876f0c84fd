"""Running one conversation: drive it, record the transcript, ask the model what it should be.

This is the only place where conversations, drivers and the model meet. Checks build
conversations and judge :class:`Observation` values; drivers only move messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from wscheck.drivers.base import Connection, Driver
from wscheck.events import (
    FINAL_EVENTS,
    Accepted,
    Action,
    ClientClose,
    Conversation,
    Drop,
    Event,
    SendBytes,
    SendText,
    Silence,
    Transcript,
)
from wscheck.model import ModelConnection
from wscheck.spec import Spec

__all__ = ["MAX_EXTRA_EVENTS", "Observation", "drain", "perform", "run_conversation"]

#: How many unexpected events a conversation records before it stops listening (a server
#: that floods must not keep a check busy forever).
MAX_EXTRA_EVENTS = 100


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


async def _read(connection: Connection, count: int, into: list[Event]) -> bool:
    """Read ``count`` events into ``into``; False once the connection can say no more."""
    for _ in range(count):
        event = await connection.receive()
        into.append(event)
        if isinstance(event, (*FINAL_EVENTS, Silence)):
            return False
    return True


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
    connection = await driver.connect(conversation.path, conversation.query, conversation.cookies)
    observed: list[Event] = [connection.handshake]
    alive = isinstance(connection.handshake, Accepted)
    # The handshake may already carry the server's first move (e.g. accept, then close 1008).
    pending = len(expected) - 1
    if alive and pending and not conversation.pipelined:
        alive = await _read(connection, pending, observed)
        pending = 0
    left = False
    for action in conversation.actions:
        replies = model.step(action)
        if left:
            continue
        leaving = isinstance(action, (ClientClose, Drop))
        if leaving and alive and pending:
            if isinstance(action, Drop) and action.in_flight:
                del expected[len(observed):]  # replies still in flight cannot be observed
                replies = ()
            else:
                alive = await _read(connection, pending, observed)
            pending = 0
        expected.extend(replies)
        await perform(connection, action)
        left = leaving
        if left:
            continue
        if conversation.pipelined:
            pending += len(replies)
        elif alive and replies:
            alive = await _read(connection, len(replies), observed)
    if alive and pending and not left:
        alive = await _read(connection, pending, observed)
    if alive and quiet and not left:
        await drain(connection, observed)
    if not left and not _ended(observed):
        await connection.close()
    aftermath = await connection.finish()
    return Observation(conversation, tuple(expected), tuple(observed), aftermath)


async def drain(connection: Connection, observed: list[Event]) -> None:
    """Record whatever else the server sends until it is quiet (at most
    ``MAX_EXTRA_EVENTS``), so that a check judging only some lines still sees all of them:
    one extra line shifts the rest past the replies that were read."""
    for _ in range(MAX_EXTRA_EVENTS):
        extra = await connection.quiet()
        if extra is None:
            return
        observed.append(extra)
        if isinstance(extra, FINAL_EVENTS):
            return


def _ended(observed: list[Event]) -> bool:
    return bool(observed) and isinstance(observed[-1], FINAL_EVENTS)
