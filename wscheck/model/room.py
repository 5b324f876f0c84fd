"""The model of a broadcast room: who receives what, for a scenario of several clients.

A scenario is a sequence of steps (a client joins, says something, or leaves);
:class:`RoomModel` predicts what each connected client receives at every step, and
:func:`expected` every client's transcript. Pure, like :mod:`wscheck.model.echo`. Only one
connection's order can honestly be predicted, so :mod:`wscheck.run.room` runs scenarios in
lock-step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from wscheck.core.events import Accepted, Text, Transcript
from wscheck.core.spec import BroadcastSpec

__all__ = ["Join", "Leave", "RoomModel", "RoomStep", "Say", "client_name", "describe_step",
           "expected"]


@dataclass(frozen=True)
class Join:
    """Client ``client`` connects (to the room's path with its own name)."""

    client: int


@dataclass(frozen=True)
class Say:
    """Client ``client`` sends the text ``text``."""

    client: int
    text: str


@dataclass(frozen=True)
class Leave:
    """Client ``client`` goes away: a normal close, or (``drop``) a TCP drop; ``unnoticed``:
    a drop the server finds out about only when its next send to the client fails (the
    driver permitting), while the next step is already under way. The room owes the same
    notices either way; only when they come differs."""

    client: int
    drop: bool = False
    unnoticed: bool = False


RoomStep: TypeAlias = Join | Say | Leave


def client_name(client: int) -> str:
    """The name a client puts in the room's path: a decimal number (FastAPI's tutorial003
    declares ``client_id: int``), distinct for every client of a scenario."""
    return str(client)


def describe_step(step: RoomStep) -> str:
    """One line for a report: ``client 2 says 'hi'``."""
    match step:
        case Join(client):
            return f"client {client} joins"
        case Say(client, text):
            return f"client {client} says {text!r}"
        case Leave(client, _, True):
            return (f"client {client} drops its TCP connection unnoticed (the server finds "
                    "out when a send to it fails)")
        case Leave(client, drop):
            return f"client {client} {'drops its TCP connection' if drop else 'closes'}"
    raise TypeError(f"not a room step: {step!r}")  # pragma: no cover


class RoomModel:
    """The room's state (who is connected, in the order they joined) and what each step
    makes the server send.

    A client joins at most once and may only speak or leave while connected: a scenario that
    breaks this is the kit's own mistake, refused with :class:`ValueError`.
    """

    def __init__(self, spec: BroadcastSpec) -> None:
        self.spec = spec
        self.present: list[int] = []
        self.seen: set[int] = set()

    def step(self, step: RoomStep) -> dict[int, tuple[str, ...]]:
        """Do ``step``; returns the texts each client receives because of it, in order
        (clients that receive nothing are left out)."""
        spec = self.spec
        name = client_name(step.client)
        out: dict[int, list[str]] = {}
        match step:
            case Join(client):
                if client in self.seen:
                    raise ValueError(f"client {client} joins twice")
                if spec.join_notice is not None:
                    notice = spec.render(spec.join_notice, name)
                    for other in self.present:
                        out.setdefault(other, []).append(notice)
                self.present.append(client)
                self.seen.add(client)
            case Say(client, text):
                self._require(client)
                if spec.reply is not None:
                    out.setdefault(client, []).append(spec.render(spec.reply, name, text))
                said = spec.render(spec.broadcast, name, text)
                for other in self.present:
                    if other != client or spec.to == "everyone":
                        out.setdefault(other, []).append(said)
            case Leave(client):
                self._require(client)
                self.present.remove(client)
                if spec.leave_notice is not None:
                    notice = spec.render(spec.leave_notice, name)
                    for other in self.present:
                        out.setdefault(other, []).append(notice)
        return {c: tuple(texts) for c, texts in out.items()}

    def _require(self, client: int) -> None:
        if client not in self.present:
            raise ValueError(f"client {client} is not connected")


def expected(spec: BroadcastSpec, steps: Sequence[RoomStep]) -> Mapping[int, Transcript]:
    """Every client's transcript under lock-step: accepted, then the texts it receives while
    connected, in order."""
    model = RoomModel(spec)
    transcripts: dict[int, list[Text | Accepted]] = {}
    for step in steps:
        if isinstance(step, Join):
            transcripts[step.client] = [Accepted()]
        for client, texts in model.step(step).items():
            transcripts[client].extend(Text(t) for t in texts)
    return {c: tuple(t) for c, t in transcripts.items()}
