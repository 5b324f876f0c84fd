"""The broadcast room as data: off by default (the reference protocol and its fingerprint are
unchanged), read from a ``[broadcast]`` table, written back by ``to_toml`` with every key, and
refused in one line when a key cannot describe a room."""

from __future__ import annotations

import pytest

from wscheck.core.spec import BroadcastSpec, Spec, spec_from_mapping
from wscheck.core.toml import parse_toml
from wscheck.errors import SpecError


def test_the_reference_protocol_has_no_room_and_keeps_its_fingerprint() -> None:
    assert Spec().broadcast is None
    assert spec_from_mapping({}).broadcast is None
    # The digest of a spec without a room is the one reports carried before rooms existed.
    assert Spec().digest() == "da66200972a1c5d4"


def test_a_broadcast_table_enables_the_room_with_tutorial003s_defaults() -> None:
    room = spec_from_mapping({"broadcast": {}}).broadcast
    assert room == BroadcastSpec()
    assert room.url_path("7") == "/ws/7"
    assert room.render(room.broadcast, "7", "hi") == "Client #7 says: hi"
    assert room.reply == "You wrote: {message}" and room.to == "everyone"
    assert room.join_notice is None
    assert room.leave_notice == "Client #{client_id} left the chat"


@pytest.mark.parametrize("spec", [
    Spec(),
    Spec(broadcast=BroadcastSpec()),
    Spec(echo=None, auth=None, broadcast=BroadcastSpec(
        path="/rooms/{room}/{who}", client_param="who", reply=None, to="others",
        broadcast="{who}@{room}: {message}",
        join_notice="{who} joined {room}", leave_notice=None,
        path_params=(("room", "lobby"),))),
])
def test_to_toml_reads_back_equal_and_prints_every_key(spec: Spec) -> None:
    text = spec.to_toml()
    assert spec_from_mapping(parse_toml(text, "t")) == spec
    for key in ("path", "client_param", "reply", "broadcast", "to", "join_notice",
                "leave_notice", "[broadcast.path_params]"):
        assert f"\n{key}" in text.split("[broadcast]", 1)[1]


@pytest.mark.parametrize(("table", "message"), [
    ({"to": "all"}, "broadcast.to must be one of 'everyone', 'others', got 'all'"),
    ({"path": "/ws"}, "broadcast.path must hold {client_id}"),
    ({"path": "ws/{client_id}"}, "broadcast.path must start with '/'"),
    ({"path": "/ws/{client_id}/{x}"}, "broadcast.path uses {x} but broadcast.path_params"),
    ({"leave_notice": "{message} left"}, "broadcast.leave_notice uses unknown field {message}"),
    ({"reply": "{mesage}"}, "broadcast.reply uses unknown field {mesage}"),
    ({"client_param": "a b"}, "broadcast.client_param must be a name"),
    ({"path_params": {"client_id": "1"}}, "broadcast.path_params must not give 'client_id'"),
    ({"broadcast": 3}, "broadcast.broadcast must be a string, got integer"),
    ({"tos": "others"}, "unknown key 'broadcast.tos'"),
])
def test_bad_rooms_are_refused_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=r"^spec: ") as info:
        spec_from_mapping({"broadcast": table})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_wscheck_spec_prints_the_room_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """``wscheck spec`` prints every key, the disabled room's included (keys to fill), and
    reads back the example that enables one."""
    from pathlib import Path

    from wscheck.cli.main import main

    assert main(["spec"]) == 0
    room = capsys.readouterr().out.split("[broadcast]", 1)[1]
    assert room.startswith("\nenabled = false\n")
    for key in ("path", "client_param", "reply", "broadcast", "to", "join_notice",
                "leave_notice"):
        assert f"\n{key} = " in room
    chat = Path(__file__).resolve().parent.parent / "examples" / "fastapi_docs_chat.toml"
    assert main(["spec", "--spec", str(chat)]) == 0
    out = capsys.readouterr().out
    assert "[broadcast]\nenabled = true\npath = \"/ws/{client_id}\"" in out
    assert "[echo]\nenabled = false" in out
