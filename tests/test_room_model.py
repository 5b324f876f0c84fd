"""The broadcast room's model predicts every client's transcript: who receives what (the
sender, the others, everyone), join and leave notices, in each connection's order."""

from __future__ import annotations

import pytest

from wscheck.core.events import Accepted, Text
from wscheck.core.spec import BroadcastSpec
from wscheck.model.room import Join, Leave, RoomModel, Say, expected

TUTORIAL003 = BroadcastSpec()


def test_tutorial003_the_sender_gets_its_reply_then_its_own_broadcast() -> None:
    got = expected(TUTORIAL003, [Join(1), Join(2), Say(1, "hi"), Leave(2), Say(1, "yo")])
    assert got == {
        1: (Accepted(), Text("You wrote: hi"), Text("Client #1 says: hi"),
            Text("Client #2 left the chat"), Text("You wrote: yo"), Text("Client #1 says: yo")),
        2: (Accepted(), Text("Client #1 says: hi")),
    }


def test_to_others_leaves_the_sender_out_and_notices_go_to_the_others() -> None:
    room = BroadcastSpec(reply=None, to="others", join_notice="{client_id} joined",
                         leave_notice="{client_id} left")
    got = expected(room, [Join(1), Join(2), Join(3), Say(2, "m"), Leave(3, drop=True)])
    assert got == {
        1: (Accepted(), Text("2 joined"), Text("3 joined"), Text("Client #2 says: m"),
            Text("3 left")),
        2: (Accepted(), Text("3 joined"), Text("3 left")),
        3: (Accepted(), Text("Client #2 says: m")),
    }


def test_a_left_client_receives_nothing_more() -> None:
    got = expected(TUTORIAL003, [Join(1), Join(2), Leave(1), Say(2, "after")])
    assert got[1] == (Accepted(),)
    assert got[2] == (Accepted(), Text("Client #1 left the chat"), Text("You wrote: after"),
                      Text("Client #2 says: after"))


@pytest.mark.parametrize("steps", [
    [Join(1), Join(1)], [Say(1, "x")], [Join(1), Leave(1), Say(1, "x")],
    [Join(1), Leave(1), Join(1)],
])
def test_scenarios_the_kit_must_not_build_are_refused(steps: list[Join | Say | Leave]) -> None:
    model = RoomModel(TUTORIAL003)
    with pytest.raises(ValueError):
        for step in steps:
            model.step(step)
