"""Running a broadcast scenario: several connections through one driver, in lock-step.

Every step is done, then the deliveries the model (:mod:`wscheck.model.room`) predicts for it
are read (all clients at once, each read bounded by the driver's deadline) before the next
step: a known set of texts per client, never a quiet window per step. A join's or a leave's
notices are always waited for (they show the server has done the step), and a client leaves
only once every text it was owed has come; of what a message owes the others, the caller may
wait only for the texts it judges (``wait``), the rest being recorded as it comes. The first
owed text that does not come within the deadline decides the scenario: the steps after it
are done without waiting (a leave not given the time an unwitnessed one is, below), and
what still comes is recorded.

Absence (a duplicate, an extra, a text to a client that left) is judged by one quiet window
per scenario, shared by every client still connected after the last step. Then the clients
still there leave one after another, each leave's notices read like any step's deliveries,
so a scenario always ends with an empty room.

A leave that empties the room has nobody left to get its notice, and over a network a
client's close completes before the server's app has taken it out of the room: the next
step or scenario could find it still there. When the spec has a leave notice, a relay
witnesses it: a client of the kit's own (named ``0``, a name no scenario uses) joins before
the last client leaves and reads that client's leave notice; it stays in the room until the
next client joins (in this scenario or the next one on the driver), then leaves, and that
client reads the relay's leave notice. The model predicts every text the relay's comings and
goings cause; those texts are read and kept out of the transcripts (a further copy stays, as
observed). Each of the relay's waits is bounded by the quiet window, as long as an
unwitnessed leave is given: a leave notice that does not come costs that much, and when the
relay's own notices do not come, the driver goes back to what it does without a relay for
the rest of its run. In-process a close waits for the app's side to end: no relay is needed.
A last leave nothing witnessed is given its quiet window by the next scenario on the target,
before its first step (this process's, or over a network another's: the time is kept in the
room's lock file), so that the run's last scenario does not pay it.

A leave may be *unnoticed* (``Leave.unnoticed``): where the driver can hold a drop back from
the server (in-process, :class:`~wscheck.drivers.base.DropsUnnoticed`), the notices it owes
are not waited for after it, but read with the next step's deliveries, in whatever order
they come, so that the server finds the client gone by a failed send. Elsewhere it is a drop
like any other: over a network the order cannot be forced.

Scenarios never overlap on one target: the spec names one room (every client of ``path`` is
in it), so two scenarios at once would each see the other's clients; :func:`run_room` runs
one scenario at a time per driver, and over a network one at a time per target across the
machine's processes (xdist workers, each with a driver of its own, or two runs against one
server), by a file lock in the temporary directory. In-process each process has its own app.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import tempfile
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
from wscheck.drivers.base import (
    REPLY_BOUND,
    Driver,
    DropsUnnoticed,
    example_bound,
    underlying,
)
from wscheck.errors import WscheckError
from wscheck.model.room import Join, Leave, RoomModel, RoomStep, Say, client_name, describe_step
from wscheck.run.conversation import MAX_EXTRA_EVENTS, Exchange, drain, kept

__all__ = ["RoomObservation", "Wait", "run_room", "vacate", "with_teardown"]

#: Which texts a message owes a client the caller waits for: ``wait(client, text)``.
Wait = Callable[[int, str], bool]

_ROOMS: weakref.WeakKeyDictionary[Driver, asyncio.Lock] = weakref.WeakKeyDictionary()

#: The relay's client number: its name is ``client_name(RELAY)``; scenarios number theirs
#: from 1.
RELAY = 0


@dataclass
class _Relay:
    """A driver's relay (see the module docstring): whether it is used, and the relay in the
    room between two steps, if any."""

    usable: bool = True
    held: Exchange | None = None


_RELAYS: weakref.WeakKeyDictionary[Driver, _Relay] = weakref.WeakKeyDictionary()

#: When each target's room is free again (wall-clock seconds, by :func:`room_key`): a
#: scenario's last leave that nothing witnessed is given its quiet window by the next
#: scenario, before its first step (see :func:`_vacant`), whichever driver of this process
#: runs it; over a network the time is kept in the target's lock file for other processes.
_FREE_AT: dict[str, float] = {}


def room_key(driver: Driver) -> str:
    """The target whose room ``driver`` uses: its URL, or (a driver without one) the
    driver itself."""
    return _url(driver) or f"{type(underlying(driver)).__name__}@{id(underlying(driver))}"


def _url(driver: Driver) -> str | None:
    """The URL of ``driver``'s target, if it has one."""
    url_for = getattr(underlying(driver), "url_for", None)  # not a counting wrapper's
    return None if url_for is None else str(url_for("/"))


def _quiet(driver: Driver) -> float:
    """``driver``'s quiet window: what a leave nothing witnessed is given, and what the
    relay's waits take at most."""
    return float(getattr(driver, "quiet_window", 0.2))


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
    #: The clients that dropped unnoticed (``Leave.unnoticed``, where the driver can: the
    #: server found out when a send to them failed); over a network, none.
    unnoticed: frozenset[int] = frozenset()
    #: The index in ``steps`` of the step whose owed text did not come within the deadline
    #: (what decided the scenario), if one did not.
    decided_at: int | None = None

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
    # One lock per target, whichever wrapper of its driver a check was given (a property's
    # counts its connections): scenarios of two checks side by side would meet in the room.
    lock = _ROOMS.setdefault(underlying(driver), asyncio.Lock())
    async with lock, _across_processes(driver):
        await _vacant(driver)
        scenario = _Scenario(driver, spec, wait)
        try:
            return await scenario.run(tuple(steps))
        finally:
            # Abandoned midway (an error, a cancelled example): nothing stays open there.
            left = [ex.connection for c, ex in scenario.exchanges.items()
                    if c not in scenario.gone]
            if scenario.moving is not None:
                left.append(scenario.moving.connection)
            await asyncio.gather(*(connection.drop() for connection in left))
            if left:
                _leaves_now(driver)


async def _vacant(driver: Driver) -> None:
    """Wait until the room is free: the last leave of the scenario before (this driver's,
    or another process's over a network) given its quiet window. Given here rather than
    after that leave, the wait overlaps what the kit does between scenarios, and the
    run's last scenario does not pay it at all."""
    delay = _FREE_AT.get(room_key(driver), 0.0) - time.time()
    if delay > 0:
        # At most what a leave is ever given, whatever a lock file says.
        await asyncio.sleep(min(delay, max(driver.timeout, _quiet(driver))))


def _leaves_now(driver: Driver) -> None:
    """A client left the room and nothing witnessed it: over a network the server's app may
    not have taken it out yet, so the room is free a quiet window from now (see
    :func:`_vacant`). In-process a close waits for the app's side to end."""
    if driver.kind != "asgi":
        _FREE_AT[room_key(driver)] = time.time() + _quiet(driver)


#: How often a scenario tries again for a target's room that another process holds.
ROOM_POLL_SECONDS = 0.005


def room_lock_path(driver: Driver) -> tuple[str, Path] | None:
    """The target of ``driver`` and the file whose lock holds its rooms across processes, or
    None where none is needed (in-process: each process has its own app) or none can be
    had."""
    target = _url(driver)
    if underlying(driver).kind == "asgi" or target is None or sys.platform == "win32":
        return None
    key = hashlib.sha256(target.encode()).hexdigest()[:16]
    return target, Path(tempfile.gettempdir()) / f"wscheck-room-{key}.lock"


@contextlib.asynccontextmanager
async def _across_processes(driver: Driver) -> AsyncIterator[None]:
    """Hold the target's rooms against the machine's other processes (see the module
    docstring) for a scenario: an xdist worker's scenarios met another worker's in the one
    room of a correct server and failed. Waits at most as long as a property's example may
    take, twice, then says which target was held; a lock file that cannot be opened (another
    user's) leaves the scenario to the per-driver lock alone."""
    held = room_lock_path(driver)
    if held is None or sys.platform == "win32":
        yield
        return
    target, path = held
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        within = 2 * example_bound(driver.timeout)
        deadline = time.monotonic() + within
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WscheckError(
                        f"another process held the room of {target} "
                        f"for over {within:g}s (its lock: {path}): run wscheck against one "
                        "target one run at a time") from None
                await asyncio.sleep(ROOM_POLL_SECONDS)
        key = room_key(driver)
        _FREE_AT[key] = max(_FREE_AT.get(key, 0.0), _read_free_at(fd))
        try:
            yield
        finally:
            _write_free_at(fd, _FREE_AT.get(key, 0.0))
    finally:
        os.close(fd)  # lets the lock go


def _read_free_at(fd: int) -> float:
    """When the room is free, as the lock file says (0: no time in it, or not one)."""
    try:
        return float(os.pread(fd, 64, 0).decode("ascii").strip() or 0)
    except (OSError, ValueError, UnicodeDecodeError):
        return 0.0


def _write_free_at(fd: int, free_at: float) -> None:
    """Keep in the lock file when the room is free, for the next process to take it; a time
    already past is left out (a file that cannot be written costs the next process that
    quiet window's wait)."""
    if free_at <= time.time():
        return
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, repr(free_at).encode("ascii"), 0)


async def vacate(driver: Driver) -> None:
    """Let the relay still in the room go, before ``driver`` closes: inside the room's locks,
    its quiet window kept in the lock file for the next scenario on the target (see
    :func:`_vacant`). Dropped with the driver's other connections, at whatever moment the run
    ends, its leave notice reached another process's scenario (an xdist worker's) in the
    middle of it."""
    relay = _RELAYS.get(underlying(driver))
    if relay is None or relay.held is None:
        return
    try:
        async with _ROOMS.setdefault(underlying(driver), asyncio.Lock()), \
                _across_processes(driver):
            held, relay.held = relay.held, None
            if held is not None:
                await held.connection.close()
                _leaves_now(driver)  # another process's scenario waits for it to be done
    except WscheckError:  # the room stayed held elsewhere: the driver drops the relay
        return


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
        #: The relay's texts each client was owed that it has not received (yet): kept out of
        #: its transcript when they come later.
        self.hidden: dict[int, Counter[str]] = {}
        #: The driver's relay, when this spec and driver use one (see the module docstring).
        self.relay: _Relay | None = None
        if driver.kind != "asgi" and spec.leave_notice is not None:
            self.relay = _RELAYS.setdefault(underlying(driver), _Relay())
        #: A relay joining or leaving (dropped if the scenario is abandoned meanwhile).
        self.moving: Exchange | None = None
        #: What an unnoticed leave owes each client: read with the next step's deliveries,
        #: in whatever order they come (see :meth:`do`).
        self.carried: dict[int, list[str]] = {}
        self.unnoticed: set[int] = set()
        #: The witnesses' texts each client waited out a quiet window for, and did not get:
        #: not waited for again before it leaves.
        self.given_up: dict[int, Counter[str]] = {}

    async def run(self, judged: tuple[RoomStep, ...]) -> RoomObservation:
        everything = with_teardown(judged)
        decided_at = None
        for index, step in enumerate(everything):
            if index == len(judged):
                await self.boundary()
            await self.do(step, teardown=index >= len(judged),
                          last=index == len(everything) - 1)
            if self.decided and decided_at is None:
                decided_at = index
        if len(everything) == len(judged):
            await self.boundary()
        ends = await asyncio.gather(*(ex.connection.finish()
                                      for ex in self.exchanges.values()))
        observed = {c: tuple(ex.observed) for c, ex in self.exchanges.items()}
        for client, texts in self.hidden.items():
            observed[client], cut = _without(observed[client], texts, self.cut.get(client))
            if cut is not None:
                self.cut[client] = cut
        return RoomObservation(
            everything, {c: tuple(e) for c, e in self.expected.items()}, observed,
            dict(zip(self.exchanges, ends)), self.cut, frozenset(self.unnoticed), decided_at)

    async def boundary(self) -> None:
        """The scenario's one quiet window: every connected client listens for anything it
        was not owed; the teardown's transcripts start after it. Not in a scenario a
        silence decided at a bounded wait (a property's replay, confirmed at the full
        timeout if it is the one reported): nothing more that came could make it pass."""
        if not (self.decided and REPLY_BOUND.get() is not None):
            await asyncio.gather(*(_drain(ex) for c, ex in self.exchanges.items()
                                   if c not in self.gone))
        self.cut.update({c: (len(self.expected[c]), len(ex.observed))
                         for c, ex in self.exchanges.items()})

    async def do(self, step: RoomStep, *, teardown: bool = False, last: bool = False) -> None:
        """Do ``step``, then read what it owes (see the module docstring). A leave of the
        ``teardown`` comes after the quiet window, nothing more in flight; its notices are
        read only for a caller that judges them (one that waits for every text)."""
        owed = self.model.step(step)
        carried, self.carried = self.carried, {}
        relayed = unseen = False
        match step:
            case Join(client):
                conversation = Conversation(self.spec.url_path(client_name(client)))
                self.exchanges[client] = await Exchange.open(self.driver, conversation)
                self.expected[client] = [Accepted()]
                if self.relay is not None and self.relay.held is not None:
                    await self._relay_out(client)
            case Say(client, text):
                await self.exchanges[client].connection.send_text(text)
            case Leave(client, drop, unnoticed):
                if not (teardown or self.decided):
                    await self._before_leaving(client)
                relayed = not self.model.present and await self._relay_in(client)
                unseen = await self._leave(client, drop, unnoticed)
                if relayed:
                    await self._relay_witness(client)
        for client, texts in owed.items():
            self.expected[client].extend(Text(t) for t in texts)
        if isinstance(step, Leave) and unseen and not relayed:
            # The server has not seen the client go: its notices come when the next step
            # makes it send to that client. Waiting for them here would let it see first.
            self.carried = {c: list(t) for c, t in owed.items()}
            return
        witnessed = relayed
        if not self.decided and not (teardown and self.wait is not None):
            judged = {c: [*carried.get(c, ()),
                          *(t for t in owed.get(c, ()) if self._judges(c, t))]
                      for c in {*carried, *owed} if c not in self.gone}
            # A join's or a leave's notice the caller does not judge is a witness only: it
            # shows the step done, and its absence costs a quiet window, not the deadline.
            witness = {c: [t for t in texts if not self._judges(c, t)]
                       for c, texts in owed.items()
                       if c not in self.gone and not isinstance(step, Say)}
            bound = self._bound()
            silent = await asyncio.gather(
                *(_read(self.exchanges[c], t) for c, t in judged.items() if t),
                *(_read(self.exchanges[c], t, within=bound) for c, t in witness.items() if t))
            self.decided = any(silent[:sum(1 for t in judged.values() if t)])
            for c, waited in witness.items():
                missing = Counter(waited) & Counter(self._owed(c))
                if missing:
                    self.given_up.setdefault(c, Counter()).update(missing)
            # Every text came, or the reads waited at least as long as a quiet window.
            witnessed = relayed or any(judged.values()) or any(witness.values())
        # The teardown's unread leaves are done one after another, the last one given time;
        # so are the judged ones once a silence has decided the scenario: what comes after
        # it shows how the room went on, and the verdict stands on the text that did not
        # come. (Given time each, a failing scenario with many leaves took seconds more.)
        if isinstance(step, Leave) and not witnessed and (
                last or not (teardown or self.decided)):
            await self._unwitnessed(last=last)

    def _judges(self, client: int, text: str) -> bool:
        return self.wait is None or self.wait(client, text)

    async def _before_leaving(self, client: int) -> None:
        """``client`` reads what it was owed and has not received: what the caller judges
        until the deadline (a silence decides the scenario), the rest for a quiet window
        at most (a witness, see :meth:`do`), but not a witness's text it already waited a
        quiet window for: a room without leave notices paid that twice per leave."""
        exchange = self.exchanges[client]
        judged = [t for t in self._owed(client) if self._judges(client, t)]
        if judged:
            self.decided = await _read(exchange, judged)
        rest = list((Counter(t for t in self._owed(client) if not self._judges(client, t))
                     - self.given_up.get(client, Counter())).elements())
        if rest and not self.decided:
            await _read(exchange, rest, within=self._bound())

    async def _unwitnessed(self, *, last: bool = False) -> None:
        """After a leave no notice showed done (none owed, or it did not come): over a network
        the client's close completes before the server's app has taken the client out of the
        room, so it is given a quiet window before the next step finds it still there; after
        the ``last`` step, before the next scenario's first (see :func:`_vacant`). (In-process,
        a close waits for the app's side to end.)"""
        if last:
            _leaves_now(self.driver)
        elif self.driver.kind != "asgi":
            await asyncio.sleep(_quiet(self.driver))

    async def _relay_in(self, client: int) -> bool:
        """Before ``client``, the last one, leaves: the relay joins (``client`` reads its
        join notice, if the spec has one). Whether the relay is in the room."""
        relay = self.relay
        if relay is None or not relay.usable:
            return False
        spec, name = self.spec, client_name(RELAY)
        self.moving = moving = await Exchange.open(self.driver,
                                                   Conversation(spec.url_path(name)))
        if not isinstance(moving.observed[0], Accepted):
            relay.usable = False
        elif spec.join_notice is not None and not await self._hidden(
                client, spec.render(spec.join_notice, name)):
            # The relay's join may still be under way as the client leaves: it leaves first,
            # and the client does not wait to see that.
            relay.usable = False
            self.hidden[client][spec.render(spec.leave_notice or "", name)] += 1
        else:
            return True
        self.moving = None
        await moving.connection.close()
        return False

    async def _relay_witness(self, client: int) -> None:
        """Once ``client`` has left: the relay reads its leave notice and stays in the room.
        A notice that does not come within the quiet window has been waited for as long as
        an unwitnessed leave is (a room may leave out some clients' notices)."""
        assert self.relay is not None and self.moving is not None
        notice = self.spec.render(self.spec.leave_notice or "", client_name(client))
        await _await(self.moving, notice, self._bound(), record=False)
        self.relay.held, self.moving = self.moving, None

    async def _relay_out(self, client: int) -> None:
        """``client`` joined the room the relay held: the relay reads its join notice (if
        the spec has one), leaves, and ``client`` reads the relay's leave notice."""
        assert self.relay is not None and self.relay.held is not None
        spec, name = self.spec, client_name(RELAY)
        self.moving, self.relay.held = self.relay.held, None
        if spec.join_notice is not None:
            notice = spec.render(spec.join_notice, client_name(client))
            if not await _await(self.moving, notice, self._bound(), record=False):
                self.relay.usable = False
        await self.moving.connection.close()
        self.moving = None
        exchange = self.exchanges[client]
        if exchange.ended or not isinstance(exchange.observed[0], Accepted):
            await self._unwitnessed()
        elif not await self._hidden(client, spec.render(spec.leave_notice or "", name)):
            self.relay.usable = False

    async def _hidden(self, client: int, text: str) -> bool:
        """``client`` reads ``text``, which the relay owes it, within the quiet window (what
        else comes is recorded); kept out of its transcript, now or when it comes later."""
        if await _await(self.exchanges[client], text, self._bound(), record=True):
            return True
        self.hidden.setdefault(client, Counter())[text] += 1
        return False

    def _bound(self) -> float:
        """How long the relay's waits take at most: the quiet window."""
        return _quiet(self.driver)

    def _owed(self, client: int) -> list[str]:
        """The texts ``client`` was owed that it has not received (yet)."""
        owed = Counter(e.text for e in self.expected[client] if isinstance(e, Text))
        owed.subtract(e.text for e in self.exchanges[client].observed if isinstance(e, Text))
        return [text for text, n in owed.items() for _ in range(n)]

    async def _leave(self, client: int, drop: bool, unnoticed: bool = False) -> bool:
        """The client goes, with what had arrived for it: read without waiting before it
        goes, and (over the network) the texts its close read up to the server's reply.
        ``unnoticed`` uses the driver's unnoticed drop where it has one (then True), else a
        drop: over a network whether the server sees it before the next message is luck,
        so the notices are waited for as after any leave, and verdicts do not change from
        run to run."""
        exchange = self.exchanges[client]
        if not exchange.ended:
            await _take(exchange, final=True)
        self.gone.add(client)
        connection = exchange.connection
        unseen = False
        if unnoticed and isinstance(connection, DropsUnnoticed):
            await connection.drop_unnoticed()
            unseen = True
            self.unnoticed.add(client)
        else:
            await (connection.drop() if drop or unnoticed else connection.close())
        if not exchange.ended:
            await _take(exchange, final=False)
        return unseen


async def _read(exchange: Exchange, owed: Sequence[str], within: float | None = None) -> bool:
    """Read until every text in ``owed`` has arrived (texts it was not owed are recorded on
    the way, at most :data:`~wscheck.run.conversation.MAX_EXTRA_EVENTS` of them), a silence or a
    final event; True when a silence waited out the deadline. Waiting for the texts themselves
    rather than for a count keeps one extra message from letting the next step start before
    this one's deliveries are in. Each read has the driver's deadline; with ``within``, the
    reads take at most that many seconds in all (a witness's wait, see :meth:`_Scenario.do`)."""
    pending = Counter(owed)
    end = None if within is None else time.monotonic() + within
    for _ in range(len(owed) + MAX_EXTRA_EVENTS):
        if not pending or exchange.ended:
            return False
        if end is None:
            event = await exchange.connection.receive()
        elif (remaining := end - time.monotonic()) > 0:
            event = await exchange.connection.receive(remaining)
        else:
            return True
        exchange.observed.append(event)
        if isinstance(event, Text) and pending[event.text]:
            pending[event.text] -= 1
            if not pending[event.text]:
                del pending[event.text]
        elif isinstance(event, Silence):
            # In-process a silence is usually known at once: nothing is decided by it.
            return event.seconds > 0
    return False


async def _await(exchange: Exchange, text: str, within: float, *, record: bool) -> bool:
    """Read until ``text`` comes (not recorded), at most ``within`` seconds in all; what else
    comes is recorded when ``record``. Whether it came."""
    deadline = time.monotonic() + within
    for _ in range(MAX_EXTRA_EVENTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or exchange.ended:
            return False
        event = await exchange.connection.receive(remaining)
        if isinstance(event, Text) and event.text == text:
            return True
        if isinstance(event, Silence):
            return False
        if record:
            exchange.observed.append(kept(event, exchange.keep))
        elif isinstance(event, FINAL_EVENTS):
            return False
    return False


def _without(observed: Transcript, texts: Counter[str],
             cut: tuple[int, int] | None) -> tuple[Transcript, tuple[int, int] | None]:
    """``observed`` without the first copy of each of ``texts`` (the relay's, that came
    after their bounded wait), and the teardown's cut moved to match."""
    left, out = Counter(texts), []
    for index, event in enumerate(observed):
        if isinstance(event, Text) and left[event.text] > 0:
            left[event.text] -= 1
            if cut is not None and index < cut[1]:
                cut = (cut[0], cut[1] - 1)
            continue
        out.append(event)
    return tuple(out), cut


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
