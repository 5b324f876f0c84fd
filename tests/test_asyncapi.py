"""``wscheck spec --asyncapi``: an AsyncAPI 3.0 document, valid by the official tooling.

Validation runs ``tests/asyncapi/validate.mjs`` with node: the official parser
(``@asyncapi/parser``) checks the document against the official JSON Schema of AsyncAPI 3.0
(``@asyncapi/specs``), bindings included. Its packages come from
``npm ci --prefix tests/asyncapi``; without them the validation tests are skipped, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wscheck.cli.main import main
from wscheck.core.asyncapi import asyncapi_document
from wscheck.core.spec import AuthSpec, EchoSpec, Spec, load_spec

HERE = Path(__file__).resolve().parent / "asyncapi"

FASTAPI_DOCS = Spec(
    echo=EchoSpec(reply="Message text was: {message}", bye=None, farewells=()),
    auth=AuthSpec(path="/items/{item_id}/ws", q_reply="Query parameter q is: {q}",
                  message_reply="Message text was: {message}, for item ID: {item_id}",
                  path_params=(("item_id", "foo"),)),
)


@pytest.fixture(scope="module")
def node() -> str:
    problem = None
    node = shutil.which("node")
    if node is None:
        problem = "node is not installed (Node.js 18 or newer)"
    elif not (HERE / "node_modules" / "@asyncapi" / "parser").is_dir():
        problem = ("the AsyncAPI validator's packages are missing: run "
                   "`npm ci --prefix tests/asyncapi`")
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert node is not None
    return node


def validate(node: str, documents: dict[str, dict[str, Any]],
             tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Each document's verdict from the official parser, in one node run."""
    paths = []
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(str(path))
    ran = subprocess.run([node, str(HERE / "validate.mjs"), *paths], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode in (0, 1), ran.stderr
    results = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["file"] for r in results] == paths
    return {Path(r["file"]).stem: r for r in results}


def test_the_document_is_valid_asyncapi_3_and_the_validator_can_say_no(
    node: str, tmp_path: Path
) -> None:
    broken = asyncapi_document(Spec())
    # A wrong operation action, and a ws binding with a method WebSockets does not have.
    broken["operations"]["sendEchoReply"]["action"] = "publish"
    broken["channels"]["credentials"]["bindings"]["ws"]["method"] = "PUT"
    results = validate(node, {"reference": asyncapi_document(Spec()),
                              "fastapi-docs": asyncapi_document(FASTAPI_DOCS),
                              "fastapi-chat": asyncapi_document(CHAT),
                              "broken": broken}, tmp_path)
    for name in ("reference", "fastapi-docs", "fastapi-chat"):
        assert results[name]["errors"] == [], name
        assert results[name]["version"] == "3.0.0"
    paths = {e["path"] for e in results["broken"]["errors"]}
    assert "operations/sendEchoReply/action" in paths
    assert "channels/credentials/bindings/ws/method" in paths


def test_the_document_describes_the_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "--asyncapi"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == asyncapi_document(Spec())
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == Spec().digest()
    assert document["servers"]["server"]["protocol"] == "ws"
    echo, credentials = document["channels"]["echo"], document["channels"]["credentials"]
    assert echo["address"] == "/ws"
    assert credentials["address"] == "/item/ws"
    assert echo["messages"]["bye"]["payload"] == {"type": "string", "const": "bye"}
    assert [echo["messages"][f"farewell{i}"]["payload"]["const"] for i in (1, 2)] == [
        "请注意:窗口即将关闭", "窗口已关闭"]
    assert echo["messages"]["reply"]["examples"] == [{"payload": "接收到的消息是:hello"}]
    assert "接收到的消息是:{message}" in echo["messages"]["reply"]["description"]
    ws = credentials["bindings"]["ws"]
    assert set(ws["query"]["properties"]) == {"token", "q"}
    assert set(ws["headers"]["properties"]) == {"Cookie"}
    assert "1008" in credentials["description"]
    actions = {name: op["action"] for name, op in document["operations"].items()}
    assert actions == {"receiveEchoMessage": "receive", "receiveEchoBye": "receive",
                       "receiveEchoBinary": "receive", "sendEchoReply": "send",
                       "receiveCredentialsMessage": "receive",
                       "receiveCredentialsBinary": "receive", "sendCredentialsReplies": "send"}
    # A request the server answers says so (AsyncAPI's reply), for tools and for wscheck's
    # plain reading of the document; the bye word ends the connection and has no reply.
    assert document["operations"]["receiveEchoMessage"]["reply"]["messages"] == [
        {"$ref": "#/channels/echo/messages/reply"}]
    assert echo["messages"]["message"]["payload"] == {"type": "string", "not": {"const": "bye"}}
    assert "reply" not in document["operations"]["receiveEchoBye"]
    replies = document["operations"]["sendCredentialsReplies"]["messages"]
    assert [m["$ref"] for m in replies] == [
        "#/channels/credentials/messages/credentialReply",
        "#/channels/credentials/messages/qReply",
        "#/channels/credentials/messages/messageReply"]


def test_path_parameters_and_a_missing_bye_word() -> None:
    document = asyncapi_document(FASTAPI_DOCS)
    credentials = document["channels"]["credentials"]
    assert credentials["address"] == "/items/{item_id}/ws"
    assert credentials["parameters"] == {
        "item_id": {"description": "path parameter 'item_id'", "examples": ["foo"]}}
    echo = document["channels"]["echo"]
    assert "bye" not in echo["messages"] and "farewell1" not in echo["messages"]
    assert [m["$ref"] for m in document["operations"]["sendEchoReply"]["messages"]] == [
        "#/channels/echo/messages/reply"]
    disabled = asyncapi_document(Spec(auth=None))
    assert list(disabled["channels"]) == ["echo"]


CHAT = load_spec(Path(__file__).resolve().parent.parent / "examples" / "fastapi_docs_chat.toml")


def test_a_broadcast_room_is_its_own_channel() -> None:
    """tutorial003's room: the channel names the client's parameter, and the messages say
    who receives them; the reference protocol has no such channel."""
    assert "broadcast" not in asyncapi_document(Spec())["channels"]
    document = asyncapi_document(CHAT)
    channel = document["channels"]["broadcast"]
    assert channel["address"] == "/ws/{client_id}"
    assert set(channel["parameters"]) == {"client_id"}
    assert set(channel["messages"]) == {"message", "broadcast", "reply", "leaveNotice"}
    assert channel["messages"]["broadcast"]["examples"] == [{"payload": "Client #1 says: hello"}]
    assert "the sender included" in channel["messages"]["broadcast"]["description"]
    sends = document["operations"]["sendRoomMessages"]["messages"]
    assert [m["$ref"].rsplit("/", 1)[1] for m in sends] == ["reply", "broadcast", "leaveNotice"]
