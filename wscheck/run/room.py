"""Running a broadcast scenario: several connections through one driver, in lock-step.

Every step is done, then the deliveries the model (:mod:`wscheck.model.room`) predicts for it
are read (all clients at once, each read bounded by the driver's deadline) before the next
step: a known set of texts per client, never a quiet window per step. A join's or a leave's
notices are always waited for (they show the server has done the step), and a client leaves
only once every text it was owed has come; of what a message owes the others, the caller may
wait only for the texts it judges (``wait``), the rest being recorded as it comes. The first
owed text that does not come within the deadline decides the scenario: the steps after it
are done without waiting, and what still comes is recorded.

Absence (a duplicate, an extra, a text to a client that left) is judged by one quiet window
per scenario, shared by every client still connected after the last step. Then the clients
still there leave one after another, each leave's notices read like any step's deliveries,
so a scenario always ends with an empty room.

Scenarios never overlap on one target: the spec names one room (every client of ``path`` is
in it), so two scenarios at once would each see the other's clients; :func:`run_room` runs
one scenario at a time per driver.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wscheck.core.events import (
    FINAL_EVENTS,
    Accepted,
    Binary,
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

__all__ = ["RoomObservation", "Wait", "run_room", "with_teardown"]

#: Which texts a message owes a client the caller waits for: ``wait(client, text)``.
Wait = Callable[[int, str], bool]

_ROOMS: weakref.WeakKeyDictionary[Driver, asyncio.Lock] = weakref.WeakKeyDictionary()


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


async def run_room(driver: Driver, spec: BroadcastSpec, steps: Sequence[RoomStep], *,
                   wait: Wait | None = None) -> RoomObservation:
    """Run ``steps`` in lock-step on ``driver``, listen one quiet window for extras, then the
    teardown of :func:`with_teardown` (see the module docstring). ``wait`` picks the texts
    of messages to wait for (default every one)."""
    lock = _ROOMS.setdefault(driver, asyncio.Lock())
    async with lock:
        scenario = _Scenario(driver, spec, wait)
        try:
            return await scenario.run(tuple(steps))
        finally:
            # Abandoned midway (an error, a cancelled example): nothing stays open there.
            await asyncio.gather(*(ex.connection.drop() for c, ex in scenario.exchanges.items()
                                   if c not in scenario.gone))


class _Scenario:
    """One scenario's clients and what each was owed and observed."""

    def __init__(self, driver: Driver, spec: BroadcastSpec, wait: Wait | None) -> None:
        self.driver, self.spec, self.wait = driver, spec, wait
        self.model = RoomModel(spec)
        self.exchanges: dict[int, Exchange] = {}
        self.expected: dict[int, list[Event]] = {}
        self.gone: set[int] = set()
        self.cut: dict[int, tuple[int, int]] = {}
        #: An owed text did not come within the deadline: the rest is done without waiting.
        self.decided = False

    async def run(self, judged: tuple[RoomStep, ...]) -> RoomObservation:
        everything = with_teardown(judged)
        for index, step in enumerate(everything):
            if index == len(judged):
                await self.boundary()
            await self.do(step, teardown=index >= len(judged),
                          last=index == len(everything) - 1)
        if len(everything) == len(judged):
            await self.boundary()
        ends = await asyncio.gather(*(ex.connection.finish()
                                      for ex in self.exchanges.values()))
        return RoomObservation(
            everything, {c: tuple(e) for c, e in self.expected.items()},
            {c: tuple(ex.observed) for c, ex in self.exchanges.items()},
            dict(zip(self.exchanges, ends)), self.cut)

    async def boundary(self) -> None:
        """The scenario's one quiet window: every connected client listens for anything it
        was not owed; the teardown's transcripts start after it."""
        await asyncio.gather(*(_drain(ex) for c, ex in self.exchanges.items()
                               if c not in self.gone))
        self.cut.update({c: (len(self.expected[c]), len(ex.observed))
                         for c, ex in self.exchanges.items()})

    async def do(self, step: RoomStep, *, teardown: bool = False, last: bool = False) -> None:
        """Do ``step``, then read what it owes (see the module docstring). A leave of the
        ``teardown`` comes after the quiet window, nothing more in flight; its notices are
        read only for a caller that judges them (one that waits for every text)."""
        owed = self.model.step(step)
        match step:
            case Join(client):
                conversation = Conversation(self.spec.url_path(client_name(client)))
                self.exchanges[client] = await Exchange.open(self.driver, conversation)
                self.expected[client] = [Accepted()]
            case Say(client, text):
                await self.exchanges[client].connection.send_text(text)
            case Leave(client, drop):
                if not (teardown or self.decided):
                    self.decided = await _read(self.exchanges[client], self._owed(client))
                await self._leave(client, drop)
        for client, texts in owed.items():
            self.expected[client].extend(Text(t) for t in texts)
        witnessed = False
        if not self.decided and not (teardown and self.wait is not None):
            wait = self.wait
            waited = {c: [t for t in texts if not isinstance(step, Say) or wait is None
                          or wait(c, t)] for c, texts in owed.items() if c not in self.gone}
            silent = await asyncio.gather(*(_read(self.exchanges[c], t)
                                            for c, t in waited.items() if t))
            self.decided = any(silent)
            witnessed = bool(owed) and not self.decided
        # The teardown's unread leaves are done one after another, the last one given time.
        if isinstance(step, Leave) and not witnessed and (last or not teardown):
            await self._unwitnessed()

    async def _unwitnessed(self) -> None:
        """After a leave no notice showed done (none owed, or it did not come): over a network
        the client's close completes before the server's app has taken the client out of the
        room, so it is given a quiet window before the next step or scenario finds it still
        there. (In-process, a close waits for the app's side to end.)"""
        if self.driver.kind != "asgi":
            await asyncio.sleep(getattr(self.driver, "quiet_window", 0.2))

    def _owed(self, client: int) -> list[str]:
        """The texts ``client`` was owed that it has not received (yet)."""
        owed = Counter(e.text for e in self.expected[client] if isinstance(e, Text))
        owed.subtract(e.text for e in self.exchanges[client].observed if isinstance(e, Text))
        return [text for text, n in owed.items() for _ in range(n)]

    async def _leave(self, client: int, drop: bool) -> None:
        """The client goes, with what had arrived for it: read without waiting before it
        goes, and (over the network) the texts its close read up to the server's reply."""
        exchange = self.exchanges[client]
        if not exchange.ended:
            await _take(exchange, final=True)
        self.gone.add(client)
        connection = exchange.connection
        await (connection.drop() if drop else connection.close())
        if not exchange.ended:
            await _take(exchange, final=False)


async def _read(exchange: Exchange, owed: Sequence[str]) -> bool:
    """Read until every text in ``owed`` has arrived (texts it was not owed are recorded on
    the way, at most :data:`~wscheck.run.conversation.MAX_EXTRA_EVENTS` of them), a silence or a
    final event; True when a silence waited out the deadline. Waiting for the texts themselves
    rather than for a count keeps one extra message from letting the next step start before
    this one's deliveries are in. Each read has the driver's deadline."""
    pending = Counter(owed)
    for _ in range(len(owed) + MAX_EXTRA_EVENTS):
        if not pending or exchange.ended:
            return False
        event = await exchange.connection.receive()
        exchange.observed.append(event)
        if isinstance(event, Text) and pending[event.text]:
            pending[event.text] -= 1
            if not pending[event.text]:
                del pending[event.text]
        elif isinstance(event, Silence):
            # In-process a silence is usually known at once: nothing is decided by it.
            return event.seconds > 0
    return False


async def _take(exchange: Exchange, *, final: bool) -> None:
    """Record what has already arrived, without waiting; the event that ends the connection
    too when ``final`` (after the client's own leave, that is its own doing)."""
    for _ in range(MAX_EXTRA_EVENTS):
        event = await exchange.connection.quiet(0)
        if event is None:
            return
        if isinstance(event, FINAL_EVENTS):
            if final:
                exchange.observed.append(event)
            return
        if isinstance(event, (Text, Binary)):
            exchange.observed.append(event)


async def _drain(exchange: Exchange) -> None:
    """Record what else the server sends until it is quiet (bounded as
    :func:`wscheck.run.conversation.drain`); a connection that already fell silent once is listened
    to all the same, and its quiet is not recorded as another silence."""
    if exchange.ended:
        return
    extras: list[Event] = []
    await drain(exchange.connection, extras)
    exchange.observed.extend(e for e in extras if not isinstance(e, Silence))
