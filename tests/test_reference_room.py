"""The reference app implements any broadcast room: ``create_app(spec)`` passes every room
check in-process and over uvicorn, for FastAPI's tutorial003 room and for a room that
broadcasts to the others only, with join notices, no reply and extra path parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_app import create_app
from tests.verdicts import Outcome, asgi_verdicts, url_verdicts
from wscheck.core.spec import BroadcastSpec, Spec, load_spec
from wscheck.run.registry import SUITE

CHAT = load_spec(Path(__file__).resolve().parent.parent / "examples" / "fastapi_docs_chat.toml")
OTHERS = Spec(echo=None, auth=None, broadcast=BroadcastSpec(
    path="/rooms/{room}/{who}", client_param="who", reply=None, to="others",
    broadcast="[{room}] {who}: {message}", join_notice="{who} joined {room}",
    leave_notice="{who} left", path_params=(("room", "lobby"),)))
#: The default protocol with a room beside it: the endpoints do not get in each other's way.
BESIDE = Spec(broadcast=BroadcastSpec())

SPECS = {"chat": CHAT, "others": OTHERS, "beside": BESIDE}


def _all_pass(spec: Spec, outcomes: dict[str, Outcome], *, network: bool) -> None:
    expected: dict[str, Outcome] = {}
    for chk in SUITE.all():
        if chk.not_applicable(spec):
            expected[chk.id] = "n/a"
        elif network and chk.id == "robust.disconnect":
            expected[chk.id] = "inconclusive"  # a server's log cannot be seen over a network
        else:
            expected[chk.id] = "pass"
    assert outcomes == expected
    assert any(v == "pass" for k, v in outcomes.items() if k.startswith("broadcast."))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_reference_room_in_process(name: str) -> None:
    spec = SPECS[name]
    _all_pass(spec, asgi_verdicts(create_app(spec), spec, examples=20), network=False)


@pytest.mark.slow  # a whole suite over uvicorn; the in-process variant runs by default
@pytest.mark.parametrize("name", ["chat", "others"])
def test_reference_room_over_uvicorn(name: str) -> None:
    spec = SPECS[name]
    _all_pass(spec, url_verdicts(create_app(spec), spec, examples=5), network=True)
