"""When a target counts as mute: it answered once, then stopped answering altogether.

Shared by the network driver and the in-process one, so that both stop the run once, with the
same message, instead of every remaining check waiting out its own timeouts. No I/O here:
the drivers say when a wait ran out and when they heard from the target.
"""

from __future__ import annotations

import time

from wscheck.errors import TargetUnreachable

__all__ = ["MUTE_AFTER", "STALL_ALLOWANCE", "MuteWatch", "TargetStoppedAnswering", "time_lost"]


class TargetStoppedAnswering(TargetUnreachable):
    """The target answered once, then stopped answering altogether (no byte in several waits
    in a row): the run stops once, as when nothing listens, instead of every check left
    waiting out its own timeouts."""


#: The target has stopped answering after this many waits in a row ran out without a single
#: byte from it, on any connection (see :class:`MuteWatch`): the run stops there rather than
#: wait out one timeout per check for the rest of the suite.
MUTE_AFTER = 3


#: A network wait that ran out this many seconds later than its deadline was held up by the
#: kit's own process (a garbage collection, a machine busy with other work), not by the
#: target: see :func:`time_lost`.
STALL_ALLOWANCE = 0.1


def time_lost(started: float, wait: float, now: float) -> float:
    """How much longer a network wait begun at ``started`` for ``wait`` seconds that ran out
    at ``now`` must go on, because the kit could not listen at its deadline.

    A deadline measures the target's silence. When the kit's event loop is held up past a
    deadline, the timer and the bytes that arrived meanwhile become ready in the same turn,
    and the timer wins: the target answered, yet the wait says it did not (a TCP connect the
    kernel completed at once reported as "nothing answered"). A timer that fired more than
    :data:`STALL_ALLOWANCE` late gives the wait as long again as it was held up (at most
    ``wait``), once. Only for the network driver: in-process the loop is the app's too, and
    an app that holds it up is silent in truth.
    """
    late = now - started - wait
    return min(late, wait) if late > STALL_ALLOWANCE else 0.0


class MuteWatch:
    """Tells when the target has stopped answering altogether, as opposed to a check's
    failure: :data:`MUTE_AFTER` waits in a row, over all connections, that ran out with not a
    sign of life from the target since they began: not a byte over the network, not a
    message (nor the end of a conversation) in-process.

    Only waits for something the target owes count: a reply the conversation expects
    (:meth:`UrlConnection.receive` for at least the driver's timeout), the answer to a
    handshake and the reply to the client's close frame; the quiet window (listening for
    nothing more) does not. Any byte after a handshake (a message, a close frame, a ping, or
    the end of the connection) starts the count again; a ``101`` does not, since a server
    whose HTTP layer upgrades but whose application never speaks is as mute as one that does
    not upgrade. A wait that began before another counted wait ended does not count, so
    connections waiting side by side count once. A live target that drops some replies
    still answers something (another reply, the close) between two such waits.

    In-process the same waits count (a reply for the driver's whole timeout, a handshake)
    when they ran out in full, and an accept does not reset the count: a wait that ends early
    because the app is known idle in ``receive()`` is an observation, not silence, and a
    loop the app blocks is the watchdog's (:mod:`._watchdog`).

    Once tripped it stays tripped: every later connect raises at once.
    """

    def __init__(self, target: str, nothing: str = "not a byte") -> None:
        self._target = target
        #: What the target did not send, in the message ("not a message" in-process).
        self._nothing = nothing
        self._count = 0
        self._heard = -float("inf")
        self._counted_until = -float("inf")
        self.stopped: str | None = None

    def heard(self) -> None:
        self._count = 0
        self._heard = time.monotonic()

    def ran_out(self, started: float, what: str, *, fail: bool = True) -> None:
        """A wait begun at ``started`` ran out; when it is the :data:`MUTE_AFTER`-th in a row
        raises :class:`TargetStoppedAnswering` (with ``fail``; otherwise the next connect or
        receive does)."""
        if started < self._heard or started < self._counted_until:
            return
        self._count += 1
        self._counted_until = time.monotonic()
        if self._count >= MUTE_AFTER:
            self.stopped = (
                f"the target stopped answering: {self._nothing} from {self._target} during "
                f"{self._count} waits in a row, the last for {what}")
            if fail:
                raise TargetStoppedAnswering(self.stopped)

    def check(self) -> None:
        if self.stopped is not None:
            raise TargetStoppedAnswering(self.stopped)
