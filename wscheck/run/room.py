"""Running a broadcast scenario: several connections through one driver, in lock-step.

Every step is done, then every delivery the model (:mod:`wscheck.model.room`) predicts for it is
read (all clients at once, each read bounded by the driver's deadline; a silence is recorded
and reading goes on) before the next step; at
the end every connected client listens a quiet window for extras, then the clients that are
still there leave one after another, each leave's notices read like any step's deliveries.
So a scenario always ends with an empty room, and the only ordering it relies on is the one a
server can honestly promise: the order of one connection's messages.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wscheck.core.events import (
    Accepted,
    Conversation,
    Event,
    Silence,
    Text,
    Transcript,
    describe,
)
from wscheck.core.render import side_by_side
from wscheck.core.spec import BroadcastSpec
from wscheck.drivers.base import Driver
from wscheck.model.room import Join, Leave, RoomModel, RoomStep, Say, client_name, describe_step
from wscheck.run.conversation import MAX_EXTRA_EVENTS, Exchange, drain

__all__ = ["RoomObservation", "run_room", "with_teardown"]


@dataclass(frozen=True)
class RoomObservation:
    """A scenario with every client's expected and observed transcript.

    ``aftermath`` is what each client's server side did once that client had left (an
    exception, a message sent to it after it left), for the drivers that can see it.
    """

    steps: tuple[RoomStep, ...]
    expected: Mapping[int, Transcript]
    observed: Mapping[int, Transcript]
    aftermath: Mapping[int, Event | None] = field(default_factory=dict)
    #: Where the teardown began in each client's transcripts: (expected, observed) lengths.
    #: A check that judges one line judges what came before; the teardown's own leaves are
    #: judged by the leave checks and the property.
    cut: Mapping[int, tuple[int, int]] = field(default_factory=dict)

    def judged(self, client: int) -> tuple[Transcript, Transcript]:
        """``client``'s expected and observed transcripts before the teardown."""
        expected, observed = self.expected[client], self.observed.get(client, ())
        e, o = self.cut.get(client, (len(expected), len(observed)))
        return expected[:e], observed[:o]

    @property
    def ok(self) -> bool:
        return dict(self.expected) == dict(self.observed)

    @property
    def clients(self) -> list[int]:
        return sorted(self.expected)

    def __str__(self) -> str:
        """The scenario, then every client's expected and observed transcripts side by side
        (the first difference marked), and what a server did after a client left."""
        lines = ["scenario:", *(f"  {describe_step(s)}" for s in self.steps)]
        for client in self.clients:
            same = self.expected[client] == self.observed.get(client, ())
            lines += ["", f"client {client}" + ("" if same else "  <- differs") + ":",
                      side_by_side(self.expected[client], self.observed.get(client, ()))]
        for client, event in sorted(self.aftermath.items()):
            if event is not None:
                lines += ["", f"after client {client} left, on the server side: "
                          + describe(event)]
        return "\n".join(lines)


def with_teardown(steps: Sequence[RoomStep]) -> tuple[RoomStep, ...]:
    """``steps`` followed by a close of every client still connected, in the order they
    joined: the room is empty at the end, and those leaves are judged as well."""
    present: list[int] = []
    for step in steps:
        if isinstance(step, Join):
            present.append(step.client)
        elif isinstance(step, Leave):
            present.remove(step.client)
    return (*steps, *(Leave(c) for c in present))


async def run_room(driver: Driver, spec: BroadcastSpec,
                   steps: Sequence[RoomStep]) -> RoomObservation:
    """Run ``steps`` in lock-step on ``driver``, listen a quiet window for extras, then the
    teardown of :func:`with_teardown` (see the module docstring)."""
    judged = tuple(steps)
    everything = with_teardown(judged)
    model = RoomModel(spec)
    exchanges: dict[int, Exchange] = {}
    expected: dict[int, list[Event]] = {}
    gone: set[int] = set()
    cut: dict[int, tuple[int, int]] = {}

    async def boundary() -> None:
        await _listen(exchanges, gone)
        cut.update({c: (len(expected[c]), len(ex.observed)) for c, ex in exchanges.items()})

    try:
        for index, step in enumerate(everything):
            if index == len(judged):
                await boundary()
            owed = model.step(step)
            match step:
                case Join(client):
                    conversation = Conversation(spec.url_path(client_name(client)))
                    exchanges[client] = await Exchange.open(driver, conversation)
                    expected[client] = [Accepted()]
                case Say(client, text):
                    await exchanges[client].connection.send_text(text)
                case Leave(client, drop):
                    # It first listens a quiet window: what it was sent beyond what it was
                    # owed is observed before it goes, not lost with the connection.
                    await _drain(exchanges[client])
                    connection = exchanges[client].connection
                    gone.add(client)
                    await (connection.drop() if drop else connection.close())
            for client, texts in owed.items():
                expected[client].extend(Text(t) for t in texts)
            await asyncio.gather(*(_read(exchanges[c], t) for c, t in owed.items()
                                   if c not in gone))
        if len(everything) == len(judged):
            await boundary()
        ends = await asyncio.gather(*(ex.connection.finish() for ex in exchanges.values()))
        if driver.kind != "asgi":
            # Nobody is left to witness the last leave, and over a network the client's close
            # completes before the server's app has taken the client out of the room: give it
            # a quiet window, so that the next scenario does not find it still there.
            # (In-process, a close waits for the app's side to end.)
            await asyncio.sleep(getattr(driver, "quiet_window", 0.2))
        aftermath = dict(zip(exchanges, ends))
    finally:
        # Abandoned midway (an error, a cancelled example): nothing stays open at the target.
        await asyncio.gather(*(ex.connection.drop() for c, ex in exchanges.items()
                               if c not in gone))
    return RoomObservation(everything, {c: tuple(e) for c, e in expected.items()},
                           {c: tuple(ex.observed) for c, ex in exchanges.items()}, aftermath,
                           cut)


async def _read(exchange: Exchange, owed: Sequence[str]) -> None:
    """Read until every text in ``owed`` has arrived (texts it was not owed are recorded on
    the way, at most :data:`~wscheck.run.conversation.MAX_EXTRA_EVENTS` of them), a silence or a
    final event. Waiting for the texts themselves rather than for a count keeps one extra message
    from letting the next step start before this one's deliveries are in. A silence ends
    this step's reading only: one missing text must not hide the texts of later steps,
    which other checks judge. Each read has the driver's deadline."""
    pending = Counter(owed)
    for _ in range(len(owed) + MAX_EXTRA_EVENTS):
        if not pending or exchange.ended:
            return
        event = await exchange.connection.receive()
        exchange.observed.append(event)
        if isinstance(event, Text) and pending[event.text]:
            pending[event.text] -= 1
            if not pending[event.text]:
                del pending[event.text]
        elif isinstance(event, Silence):
            return


async def _listen(exchanges: Mapping[int, Exchange], gone: set[int]) -> None:
    """Every connected client listens a quiet window for anything it was not owed."""
    await asyncio.gather(*(_drain(ex) for c, ex in exchanges.items() if c not in gone))


async def _drain(exchange: Exchange) -> None:
    """Record what else the server sends until it is quiet (bounded as
    :func:`wscheck.run.conversation.drain`); a connection that already fell silent once is listened
    to all the same, and its quiet is not recorded as another silence."""
    if exchange.ended:
        return
    extras: list[Event] = []
    await drain(exchange.connection, extras)
    exchange.observed.extend(e for e in extras if not isinstance(e, Silence))
