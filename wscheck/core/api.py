"""A WebSocket API read from an AsyncAPI document, as frozen data.

:mod:`wscheck.core.asyncapi_in` builds it; :mod:`wscheck.model.api` judges messages against
it. The document describes the *server*: an operation it ``receive``s with a ``reply`` is a
request/reply exchange, one it ``send``s without a request is a message it may send on its
own. Schemas are kept as canonical JSON texts (every ``$ref`` inlined), so that the spec
stays hashable and its digest stable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["ApiEndpoint", "ApiMessage", "ApiOperation", "ApiSpec", "api_from_json",
           "api_to_json"]


@dataclass(frozen=True)
class ApiMessage:
    """One message of a channel: its payload schema and where its correlation id is."""

    channel: str
    name: str
    #: The payload's JSON Schema as canonical JSON (``"{}"``: any payload).
    schema: str
    #: The payload is a string schema: the message is sent as that text, not as JSON.
    text: bool = False
    #: JSON pointer tokens of the correlation id inside the payload, or ``()`` for none.
    correlation: tuple[str, ...] = ()
    #: Example payloads from the document, as canonical JSON.
    examples: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How failures name it: ``channel/message``."""
        return f"{self.channel}/{self.name}"


@dataclass(frozen=True)
class ApiEndpoint:
    """One WebSocket endpoint: the channels at one address, with what the kit connects with."""

    path: str
    channels: tuple[str, ...]
    query: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ApiOperation:
    """An operation of the server, on one endpoint (an index into :attr:`ApiSpec.endpoints`)."""

    id: str
    action: Literal["send", "receive"]
    channel: str
    endpoint: int
    messages: tuple[ApiMessage, ...]
    #: The reply's messages for a request/reply ``receive``; ``None`` when there is no reply.
    replies: tuple[ApiMessage, ...] | None = None


@dataclass(frozen=True)
class ApiSpec:
    """The WebSocket part of an AsyncAPI document."""

    title: str
    endpoints: tuple[ApiEndpoint, ...]
    operations: tuple[ApiOperation, ...]
    #: Every message of every WebSocket channel, to recognise one sent where it does not belong.
    messages: tuple[ApiMessage, ...]

    def requests(self) -> tuple[ApiOperation, ...]:
        """The request/reply operations (the server receives, then replies)."""
        return tuple(o for o in self.operations
                     if o.action == "receive" and o.replies is not None)

    def sends(self, endpoint: int) -> tuple[ApiOperation, ...]:
        """The server's own messages on ``endpoint``: its ``send`` operations, but those whose
        every message is a reply to a request there (they describe the replies, not messages
        sent without a request)."""
        replies = {m for o in self.requests() if o.endpoint == endpoint for m in o.replies or ()}
        return tuple(o for o in self.operations if o.action == "send"
                     and o.endpoint == endpoint and not set(o.messages) <= replies)


def api_to_json(api: ApiSpec) -> dict[str, Any]:
    """``api`` as JSON data (a report keeps it, so that a failure can be replayed)."""
    return asdict(api)


def api_from_json(data: object, where: str) -> ApiSpec:
    """An :class:`ApiSpec` from :func:`api_to_json`'s data, every field's type checked first:
    a report is trusted for nothing. Raises :class:`ValueError` with one line naming the
    field."""

    def obj(value: object, at: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"{where}.{at} must be an object")
        return value

    def array(value: object, at: str) -> list[Any]:
        if not isinstance(value, list):
            raise ValueError(f"{where}.{at} must be an array")
        return value

    def text(value: object, at: str) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{where}.{at} must be a string")
        return value

    def texts(value: object, at: str) -> tuple[str, ...]:
        return tuple(text(v, f"{at}[{i}]") for i, v in enumerate(array(value, at)))

    def pairs(value: object, at: str) -> tuple[tuple[str, str], ...]:
        found = []
        for i, pair in enumerate(array(value, at)):
            items = texts(pair, f"{at}[{i}]")
            if len(items) != 2:
                raise ValueError(f"{where}.{at}[{i}] must be a pair of strings")
            found.append((items[0], items[1]))
        return tuple(found)

    def message(value: object, at: str) -> ApiMessage:
        m = obj(value, at)
        schema = text(m.get("schema"), f"{at}.schema")
        try:
            json.loads(schema)
        except ValueError:
            raise ValueError(f"{where}.{at}.schema must be a JSON Schema as JSON") from None
        if not isinstance(m.get("text"), bool):
            raise ValueError(f"{where}.{at}.text must be a boolean")
        return ApiMessage(text(m.get("channel"), f"{at}.channel"),
                          text(m.get("name"), f"{at}.name"), schema, m["text"],
                          texts(m.get("correlation"), f"{at}.correlation"),
                          texts(m.get("examples"), f"{at}.examples"))

    root = obj(data, "")
    endpoints = []
    for i, e in enumerate(array(root.get("endpoints"), "endpoints")):
        at = f"endpoints[{i}]"
        e = obj(e, at)
        endpoints.append(ApiEndpoint(text(e.get("path"), f"{at}.path"),
                                     texts(e.get("channels"), f"{at}.channels"),
                                     pairs(e.get("query"), f"{at}.query"),
                                     pairs(e.get("cookies"), f"{at}.cookies")))
    operations = []
    for i, o in enumerate(array(root.get("operations"), "operations")):
        at = f"operations[{i}]"
        o = obj(o, at)
        action = o.get("action")
        if action not in ("send", "receive"):
            raise ValueError(f"{where}.{at}.action must be 'send' or 'receive'")
        endpoint = o.get("endpoint")
        if not isinstance(endpoint, int) or isinstance(endpoint, bool) or not (
                0 <= endpoint < len(endpoints)):
            raise ValueError(f"{where}.{at}.endpoint must be the index of an endpoint")
        replies = None if o.get("replies") is None else tuple(
            message(m, f"{at}.replies[{j}]")
            for j, m in enumerate(array(o["replies"], f"{at}.replies")))
        operations.append(ApiOperation(
            text(o.get("id"), f"{at}.id"), action, text(o.get("channel"), f"{at}.channel"),
            endpoint, tuple(message(m, f"{at}.messages[{j}]") for j, m in
                            enumerate(array(o.get("messages"), f"{at}.messages"))), replies))
    messages = tuple(message(m, f"messages[{j}]")
                     for j, m in enumerate(array(root.get("messages"), "messages")))
    return ApiSpec(text(root.get("title"), "title"), tuple(endpoints), tuple(operations),
                   messages)

