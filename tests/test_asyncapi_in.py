"""AsyncAPI 3.0 documents as specs: told from TOML by content, `$ref`s followed within bounds,
validated against the bundled schema; every problem one line with its JSON pointer, exit 4.
And the chat protocol's own document reads back to exactly its spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_bad_input import assert_one_line
from tests.verdicts import asgi_verdicts
from wscheck.config.known import load_spec_and_known
from wscheck.core.asyncapi import asyncapi_json
from wscheck.core.spec import AuthSpec, BroadcastSpec, EchoSpec, Spec, load_spec
from wscheck.errors import SpecError
from wscheck.run.registry import SUITE

PING = """\
asyncapi: 3.0.0
info: {title: Ping, version: '1'}
channels:
  root:
    address: /ws
    bindings: {ws: {bindingVersion: 0.1.0}}
    messages:
      ping: {$ref: '#/components/messages/ping'}
      pong: {$ref: 'messages.yaml#/pong'}
operations:
  onPing:
    action: receive
    channel: {$ref: '#/channels/root'}
    messages: [{$ref: '#/channels/root/messages/ping'}]
    reply:
      messages: [{$ref: '#/channels/root/messages/pong'}]
components:
  messages:
    ping:
      payload: {type: object, required: [event], properties: {event: {const: ping}}}
"""
MESSAGES = """\
pong:
  payload: {type: object, required: [event], properties: {event: {const: pong}}}
"""


def write(tmp_path: Path, text: str, name: str = "api.yaml", messages: str = MESSAGES) -> Path:
    (tmp_path / "messages.yaml").write_text(messages, encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec_and_known(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_local_and_relative_refs_are_followed(tmp_path: Path) -> None:
    spec, known = load_spec_and_known(write(tmp_path, PING))
    assert known == () and spec.echo is None and spec.auth is None and spec.api is not None
    (op,) = spec.api.operations
    assert (op.id, op.action, [m.label for m in op.messages],
            [m.label for m in op.replies or ()]) == ("onPing", "receive", ["root/ping"],
                                                      ["root/pong"])
    assert json.loads(op.replies[0].schema)["properties"]["event"] == {"const": "pong"}
    assert [c.id for c in SUITE.for_spec(spec) if c.area == "asyncapi"] == [
        "asyncapi.onPing.reply", "asyncapi.onPing.schema", "asyncapi.onPing.unsolicited",
        "asyncapi.onPing.isolation", "asyncapi.onPing.prop", "asyncapi.stateful"]


def test_the_format_is_told_by_content_not_extension(tmp_path: Path) -> None:
    spec, _ = load_spec_and_known(write(tmp_path, PING, name="api.txt"))
    assert spec.api is not None
    as_json = json.dumps({**__import__("yaml").safe_load(PING)})
    assert load_spec_and_known(write(tmp_path, as_json, name="api.conf"))[0] == spec
    toml = tmp_path / "proto.yaml"
    toml.write_text('[echo]\nbye = "ciao"\n', encoding="utf-8")
    assert "is not an AsyncAPI document" in refused(toml)


@pytest.mark.parametrize(("change", "fragments"), [
    pytest.param(lambda t: t.replace("'messages.yaml#/pong'", "'https://example.test/p.yaml'"),
                 ["remote $ref 'https://example.test/p.yaml' is not fetched"], id="remote"),
    pytest.param(lambda t: t.replace("asyncapi: 3.0.0", "asyncapi: 2.6.0"),
                 ["/asyncapi: AsyncAPI 2.6.0 is not supported: only AsyncAPI 3.0"],
                 id="asyncapi-2"),
    pytest.param(lambda t: t.replace("action: receive", "action: publish"),
                 ["/operations/onPing/action:", "'publish'"], id="invalid-action"),
    pytest.param(lambda t: t.replace("info: {title: Ping, version: '1'}\n", ""),
                 ["/: 'info' is a required property"], id="no-info"),
    pytest.param(lambda t: t.replace("channels:", "channels: [", 1),
                 ["is not valid YAML or JSON", "line"], id="yaml-syntax"),
    pytest.param(lambda t: t.replace("'#/components/messages/ping'", "'#/components/nope'"),
                 ["$ref '#/components/nope' names nothing"], id="dangling"),
    pytest.param(lambda t: t.replace("bindings: {ws: {bindingVersion: 0.1.0}}",
                                     "bindings: {kafka: {}}") + "servers: {k: {host: h, "
                                     "protocol: kafka}}\n",
                 ["/channels: no WebSocket channel"], id="kafka-only"),
    pytest.param(lambda t: t.replace("  onPing:", "  'on Ping':"),
                 ["/operations/on Ping: the operation id 'on Ping' names the kit's checks"],
                 id="operation-id"),
])
def test_a_bad_document_is_one_line_naming_where(tmp_path: Path, change, fragments) -> None:
    message = refused(write(tmp_path, change(PING)))
    for fragment in fragments:
        assert fragment in message, message


def test_a_circular_ref_is_refused(tmp_path: Path) -> None:
    looped = PING.replace(
        "payload: {type: object, required: [event], properties: {event: {const: ping}}}",
        "payload: {$ref: '#/components/schemas/node'}\n  schemas:\n    node:\n"
        "      properties: {next: {$ref: '#/components/schemas/node'}}")
    assert "circular $ref" in refused(write(tmp_path, looped))


def test_a_billion_laughs_document_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    bomb = "asyncapi: 3.0.0\n" + "\n".join(lines) + "\n"
    assert "too large once its aliases" in refused(write(tmp_path, bomb))


def test_the_cli_refuses_a_bad_document_in_one_line_exit_4(tmp_path: Path) -> None:
    path = write(tmp_path, PING.replace("'messages.yaml#/pong'", "'http://x.test/p.yaml'"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-m", "wscheck", "run", "--spec", str(path)],
                            capture_output=True, text=True, timeout=90, env=env,
                            cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert_one_line(result.returncode, result.stdout, result.stderr,
                    "remote $ref 'http://x.test/p.yaml' is not fetched")


SPECS = [
    Spec(),
    Spec(echo=EchoSpec(bye=None, reply="-> {message}"), auth=None),
    Spec(echo=EchoSpec(path="/rooms/{room}", path_params=(("room", "r1"),),
                       farewells=("ciao",), bye_close_code=4000)),
    Spec(echo=None, auth=AuthSpec(cookie="sid", denied_close_code=4403),
         broadcast=BroadcastSpec(to="others", join_notice="{client_id} joined")),
]


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_the_chat_protocols_document_reads_back_to_the_same_spec(tmp_path: Path,
                                                                 spec: Spec) -> None:
    path = tmp_path / "chat.json"
    path.write_text(asyncapi_json(spec), encoding="utf-8")
    back, _ = load_spec_and_known(path)
    assert back == spec and back.digest() == spec.digest()
    assert [c.id for c in SUITE.for_spec(back)] == [c.id for c in SUITE.for_spec(spec)]


def test_plain_asyncapi_without_the_extension_gives_schema_level_checks(tmp_path: Path) -> None:
    document = json.loads(asyncapi_json(Spec()))
    del document["x-wscheck-spec"]
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    spec, _ = load_spec_and_known(path)
    assert spec.echo is None and spec.auth is None and spec.api is not None
    ids = [c.id for c in SUITE.for_spec(spec) if not c.not_applicable(spec)]
    assert ids and all(i.startswith("asyncapi.") for i in ids), ids
    # What JSON Schema can say, the reference app does: every reply there, a string, to its
    # own client (the credentials endpoint's token is its operation's httpApiKey security).
    import reference_app

    outcomes = asgi_verdicts(reference_app.app, spec, examples=10)
    assert set(outcomes.values()) == {"pass"}, outcomes
    assert "asyncapi.receiveCredentialsMessage.reply" in outcomes


#: A sample of the kill matrix: broken apps whose verdicts must not depend on whether the spec
#: was given as TOML or as the AsyncAPI document `wscheck spec --asyncapi` printed.
KILL_SAMPLE = ("bye_closes_1001", "accepts_missing_credentials")


@pytest.mark.slow  # two whole suites per app
@pytest.mark.parametrize("name", KILL_SAMPLE)
def test_kill_matrix_verdicts_are_the_same_from_toml_and_asyncapi(tmp_path: Path,
                                                                 name: str) -> None:
    import importlib

    spec = Spec()
    toml = tmp_path / "chat.toml"
    toml.write_text(spec.to_toml(), encoding="utf-8")
    document = tmp_path / "chat.yaml"
    document.write_text(asyncapi_json(spec), encoding="utf-8")
    from_toml, from_asyncapi = load_spec(toml), load_spec_and_known(document)[0]
    app = importlib.import_module(f"tests.broken.{name}").app
    by_toml = asgi_verdicts(app, from_toml, examples=5)
    by_asyncapi = asgi_verdicts(app, from_asyncapi, examples=5)
    assert by_toml == by_asyncapi
    assert "fail" in by_toml.values()


def test_a_ref_to_a_device_or_a_fifo_is_never_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for target in ("/dev/zero", "fifo.yaml"):
        text = PING.replace("'messages.yaml#/pong'", f"'{target}#/pong'")
        assert "not a regular file" in refused(write(tmp_path, text))


def test_wscheck_spec_and_checks_show_the_api_as_read(tmp_path: Path) -> None:
    path = write(tmp_path, PING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}

    def wscheck(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "wscheck", *args], capture_output=True,
                              text=True, timeout=90, env=env, cwd=tmp_path,
                              stdin=subprocess.DEVNULL)

    shown = wscheck("spec", "--spec", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "endpoint /ws (channels: root)" in shown.stdout
    assert "onPing: the client sends root/ping; the server replies root/pong" in shown.stdout
    listed = wscheck("checks", "--spec", str(path))
    assert listed.returncode == 0, listed.stderr
    ids = [line.split()[0] for line in listed.stdout.splitlines()[1:] if line.startswith("a")]
    assert ids == [c.id for c in SUITE.for_spec(load_spec_and_known(path)[0])]
    assert all(i.startswith("asyncapi.") for i in ids)
    assert_one_line(*(lambda r: (r.returncode, r.stdout, r.stderr))(
        wscheck("spec", "--spec", str(path), "--asyncapi")), "is an AsyncAPI document already")


def test_a_request_schema_that_admits_nothing_leaves_the_properties_inconclusive(
        tmp_path: Path) -> None:
    impossible = PING.replace(
        "payload: {type: object, required: [event], properties: {event: {const: ping}}}",
        "payload: {allOf: [{type: string}, {type: integer}]}")
    spec, _ = load_spec_and_known(write(tmp_path, impossible))

    async def nothing(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError("no check may connect")  # pragma: no cover

    outcomes = asgi_verdicts(nothing, spec, examples=5)
    assert outcomes == {"asyncapi.onPing.reply": "inconclusive",
                        "asyncapi.onPing.schema": "inconclusive",
                        "asyncapi.onPing.unsolicited": "inconclusive",
                        "asyncapi.onPing.isolation": "inconclusive",
                        "asyncapi.onPing.prop": "inconclusive",
                        "asyncapi.stateful": "inconclusive"}, outcomes
