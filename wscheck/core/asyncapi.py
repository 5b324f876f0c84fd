"""The protocol of a :class:`~wscheck.core.spec.Spec` as an AsyncAPI 3.0 document.

``wscheck spec --asyncapi`` prints it: one channel per endpoint (address, path parameters,
the WebSocket bindings for the query string and the ``Cookie`` header), the messages with
their reply templates, and the operations of the *server* (it receives the client's messages
and sends the replies). It is a description for people and tools; the checks stay the
authority on what conforms. The document is JSON, which is also YAML.

What JSON Schema cannot say (the echo's reply template, the bye word, its farewells and close
code, the 1008 rule of the credentials endpoint, the broadcast room's audience) is carried by
the ``x-wscheck-spec`` extension: the whole spec, as the tables of its TOML document.
:func:`wscheck.core.asyncapi_in.load_asyncapi` reads a document that has it back to the very
same spec, so ``--wscheck-spec api.json`` runs exactly the suite of the TOML spec.
"""

from __future__ import annotations

import json
from typing import Any

from wscheck.core.spec import AuthSpec, BroadcastSpec, EchoSpec, Spec
from wscheck.core.toml import parse_toml

__all__ = ["ASYNCAPI_VERSION", "asyncapi_document", "asyncapi_json"]

ASYNCAPI_VERSION = "3.0.0"
#: Version of the WebSockets bindings object (asyncapi/bindings, websockets/).
WS_BINDING_VERSION = "0.1.0"


def _text(description: str, example: str | None = None, **schema: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "string", **schema}
    message: dict[str, Any] = {"contentType": "text/plain", "description": description,
                               "payload": payload}
    if example is not None:
        message["examples"] = [{"payload": example}]
    return message


def _binary(code: int) -> dict[str, Any]:
    return {
        "contentType": "application/octet-stream",
        "description": f"A binary message: not supported, the server closes with {code} "
                       "(unsupported data).",
        "payload": {"type": "string", "format": "binary"},
    }


def _parameters(params: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {name: {"description": f"path parameter {name!r}", "examples": [value]}
            for name, value in params}


def _ref(*parts: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)}


def _echo_channel(echo: EchoSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    messages: dict[str, Any] = {
        "message": _text("Any text message from the client, kept exactly (no trimming, any "
                         "Unicode, up to 64 KiB at least).", "hello"),
        "reply": _text(f"The reply to every ordinary message: the template {echo.reply!r} "
                       "with {message} the client's text, exactly.",
                       echo.render_reply("hello")),
        "binary": _binary(echo.binary_close_code),
    }
    description = ("The echo endpoint: every text message is answered once, in order; the "
                   "server sends nothing it was not asked for.")
    if echo.bye is not None:
        messages["bye"] = _text(
            f"The exact word {echo.bye!r} (no other case, no whitespace) ends the chat: the "
            f"farewells follow, then a close with {echo.bye_close_code}.", echo.bye,
            const=echo.bye)
        for i, farewell in enumerate(echo.farewells, 1):
            messages[f"farewell{i}"] = _text(f"Farewell {i} of {len(echo.farewells)}, sent "
                                             "after the bye word, before the close.",
                                             farewell, const=farewell)
        description += (f" {echo.bye!r} ends it: {len(echo.farewells)} farewell(s), then a "
                        f"close with {echo.bye_close_code}.")
    channel: dict[str, Any] = {
        "address": echo.path,
        "title": "echo",
        "description": description,
        "messages": messages,
        "bindings": {"ws": {"method": "GET", "bindingVersion": WS_BINDING_VERSION}},
    }
    if echo.path_params:
        channel["parameters"] = _parameters(echo.path_params)
    if echo.bye is not None:  # an ordinary message is any text but the bye word
        messages["message"]["payload"]["not"] = {"const": echo.bye}
    operations = {
        "receiveEchoMessage": _operation(
            "receive", "receive a client message, answered with the reply", "echo",
            ["message"], reply=["reply"]),
        **({"receiveEchoBye": _operation(
            "receive", "receive the bye word: the farewells follow, then the close", "echo",
            ["bye"])} if echo.bye is not None else {}),
        "receiveEchoBinary": _operation(
            "receive", "receive a binary message: the server closes", "echo", ["binary"]),
        # The farewells are described by the bye word's operation and their messages: they
        # follow no request a client could repeat (the chat is over).
        "sendEchoReply": _operation("send", "answer the client", "echo", ["reply"]),
    }
    return channel, operations


def _operation(action: str, title: str, channel: str, messages: list[str],
               reply: list[str] | None = None) -> dict[str, Any]:
    """An AsyncAPI operation on one of the document's channels, naming its messages (and,
    for a request the server answers, the reply's)."""
    operation: dict[str, Any] = {
        "action": action,
        "title": title,
        "channel": _ref("channels", channel),
        "messages": [_ref("channels", channel, "messages", m) for m in messages],
    }
    if reply:
        operation["reply"] = {"channel": _ref("channels", channel),
                              "messages": [_ref("channels", channel, "messages", m)
                                           for m in reply]}
    return operation


def _auth_channel(auth: AuthSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    q_pattern = "^(0|-?[1-9][0-9]*)$"
    messages: dict[str, Any] = {
        "message": _text("Any text message from the client (the bye word is ordinary here).",
                         "hello"),
        "credentialReply": _text(
            f"First reply to every message: {auth.credential_reply!r}, {{credential}} being "
            f"the {auth.cookie!r} cookie's value when it is not empty, else the "
            f"{auth.token!r} query value (an empty credential still counts as present).",
            auth.render(auth.credential_reply, credential="abc")),
        "qReply": _text(f"Second reply, only when {auth.q!r} was given: {auth.q_reply!r}, "
                        "{q} the integer.", auth.render(auth.q_reply, q=7)),
        "messageReply": _text(
            f"Last reply to every message: {auth.message_reply!r}, {{message}} the client's "
            f"text and {{q}} the integer, or None without {auth.q!r}.",
            auth.render(auth.message_reply, message="hello", q=7)),
        "binary": _binary(auth.binary_close_code),
    }
    channel: dict[str, Any] = {
        "address": auth.path,
        "title": "credentials",
        "description": (
            f"The endpoint guarded by a cookie or a token. Without the {auth.cookie!r} "
            f"cookie and the {auth.token!r} query parameter, or with a {auth.q!r} that is "
            f"not an integer, the server sends nothing and the connection ends with "
            f"{auth.denied_close_code} (accept then close, so the code reaches the client). "
            "The cookie wins over the token."),
        "messages": messages,
        "bindings": {"ws": {
            "method": "GET",
            "query": {
                "type": "object",
                "properties": {
                    auth.token: {"type": "string",
                                 "description": "the token; used when there is no cookie"},
                    auth.q: {"type": "string", "pattern": q_pattern,
                             "description": "an optional integer, echoed as a number"},
                },
            },
            "headers": {
                "type": "object",
                "properties": {
                    "Cookie": {"type": "string",
                               "description": f"may carry the {auth.cookie!r} cookie, "
                                             f"e.g. {auth.cookie}=abc"},
                },
            },
            "bindingVersion": WS_BINDING_VERSION,
        }},
    }
    if auth.path_params:
        channel["parameters"] = _parameters(auth.path_params)
    operations = {
        "receiveCredentialsMessage": {**_operation(
            "receive", "receive a client message, answered with the credential line, the q "
            "line (with q) and the message line", "credentials", ["message"],
            reply=["credentialReply", "qReply", "messageReply"]),
            # Alternatives: the cookie, or the token (what JSON Schema cannot say, that
            # neither means 1008, is in x-wscheck-spec).
            "security": [{"type": "httpApiKey", "name": auth.token, "in": "query"},
                         {"type": "httpApiKey", "name": auth.cookie, "in": "cookie"}]},
        "receiveCredentialsBinary": _operation(
            "receive", "receive a binary message: the server closes", "credentials",
            ["binary"]),
        "sendCredentialsReplies": _operation(
            "send", "answer the client: credential line, q line (with q), message line",
            "credentials", ["credentialReply", "qReply", "messageReply"]),
    }
    return channel, operations


def _room_channel(room: BroadcastSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The broadcast room: one channel whose address names the client; who receives each
    message is said in its description (AsyncAPI has no word for "the other connections")."""
    who = "every connected client, the sender included" if room.to == "everyone" else \
        "every other connected client"
    example = room.client_param
    messages: dict[str, Any] = {
        "message": _text("Any text message from a client: said to the room.", "hello"),
        "broadcast": _text(f"Sent to {who} for every message: {room.broadcast!r}, "
                           f"{{{example}}} the sender's and {{message}} its text.",
                           room.render(room.broadcast, "1", "hello")),
    }
    sends = ["broadcast"]
    if room.reply is not None:
        messages["reply"] = _text(f"Sent to the sender alone, before anything else: "
                                  f"{room.reply!r}.", room.render(room.reply, "1", "hello"))
        sends.insert(0, "reply")
    for key, when in (("join_notice", "joins"), ("leave_notice", "leaves (closes or drops)")):
        template = getattr(room, key)
        if template is not None:
            name = "joinNotice" if key == "join_notice" else "leaveNotice"
            messages[name] = _text(f"Sent to the other connected clients when one {when}: "
                                   f"{template!r}.", room.render(template, "1"))
            sends.append(name)
    channel: dict[str, Any] = {
        "address": room.path,
        "title": "broadcast",
        "description": (f"A broadcast room: every client connects with its own "
                        f"{{{room.client_param}}}; each connection receives its texts in the "
                        "order the room's events happened."),
        "messages": messages,
        "parameters": {
            room.client_param: {"description": "the client's own name in the room",
                                "examples": ["1"]},
            **_parameters(room.path_params),
        },
        "bindings": {"ws": {"method": "GET", "bindingVersion": WS_BINDING_VERSION}},
    }
    operations = {
        "receiveRoomMessage": _operation(
            "receive", "receive a client's message", "broadcast", ["message"],
            reply=["reply"] if room.reply is not None else
            ["broadcast"] if room.to == "everyone" else None),
        "sendRoomMessages": _operation("send", "tell the room", "broadcast", sends),
    }
    return channel, operations


def asyncapi_document(spec: Spec, *, host: str = "localhost:8000") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``spec``; ``host`` fills the placeholder server."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    if spec.echo is not None:
        channel, ops = _echo_channel(spec.echo)
        channels["echo"] = channel
        operations.update(ops)
    if spec.auth is not None:
        channel, ops = _auth_channel(spec.auth)
        channels["credentials"] = channel
        operations.update(ops)
    if spec.broadcast is not None:
        channel, ops = _room_channel(spec.broadcast)
        channels["broadcast"] = channel
        operations.update(ops)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": f"urn:wscheck:spec:{spec.digest()}",
        "info": {
            "title": "WebSocket chat protocol",
            "version": spec.digest(),
            "description": ("A small WebSocket chat protocol, as checked by wscheck (the "
                            "version is the spec's digest). Generated by `wscheck spec "
                            "--asyncapi`; the operations are the server's."),
        },
        "defaultContentType": "text/plain",
        "servers": {
            "server": {
                "host": host,
                "protocol": "ws",
                "description": "placeholder: where the server under test runs (wss for TLS)",
            },
        },
        "channels": channels,
        "operations": operations,
        # Read back by wscheck as the spec itself; other tools ignore x- extensions.
        "x-wscheck-spec": parse_toml(spec.to_toml(), "the spec"),
    }


def asyncapi_json(spec: Spec) -> str:
    """The document as indented JSON (valid YAML too)."""
    return json.dumps(asyncapi_document(spec), ensure_ascii=False, indent=2) + "\n"
