"""The oracle for an API read from an AsyncAPI document: which message a text the server sent
is, and whether it is what the document says.

A reply cannot be predicted to the character as the chat's can; it is *judged*: against the
reply messages' JSON Schemas (jsonschema), and on its correlation id. Which message a text
*claims* to be is told by its discriminators: a property whose schema is a ``const`` (or a
one-value ``enum``), as ``event: pong`` in Kraken's. A text that claims a message of another
channel is a reply on the wrong channel; one that claims its own but breaks the schema is a
broken reply. Pure functions of the spec and the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from wscheck.core.api import ApiMessage, ApiOperation, ApiSpec
from wscheck.core.limits import clip

__all__ = [
    "Reading",
    "belongs",
    "claims",
    "correlation_problem",
    "other_message",
    "read",
    "schema_problem",
    "send_operation",
    "simplest_payload",
]

_NOT_JSON = object()


@dataclass(frozen=True)
class Reading:
    """A message as a payload: the JSON value (or the text itself for a string schema); a
    binary message is neither."""

    text: str
    value: Any
    binary: bool = False

    @property
    def json(self) -> bool:
        return self.value is not _NOT_JSON


def read(message: str | bytes) -> Reading:
    """A text message parsed as JSON when it is JSON; a binary message as such."""
    if isinstance(message, bytes):
        return Reading(f"<binary, {len(message)} bytes>", _NOT_JSON, binary=True)
    try:
        return Reading(message, json.loads(message))
    except (ValueError, RecursionError):
        return Reading(message, _NOT_JSON)


@lru_cache(maxsize=512)
def _schema(schema: str) -> Any:
    return json.loads(schema)


@lru_cache(maxsize=512)
def _validator(schema: str) -> Any:
    import jsonschema

    return jsonschema.Draft7Validator(_schema(schema))


def _payload(message: ApiMessage, reading: Reading) -> Any:
    if message.text:
        return reading.text
    return reading.value


def schema_problem(message: ApiMessage, reading: Reading) -> str | None:
    """Why ``reading`` is not a valid ``message`` (one line), or None."""
    if reading.binary:
        return "it is a binary message, not text"
    if not message.text and not reading.json:
        return f"it is not JSON (text {clip(reading.text, 80)!r})"
    from jsonschema.exceptions import best_match

    errors = list(_validator(message.schema).iter_errors(_payload(message, reading)))
    if not errors:
        return None
    error = best_match(errors)
    where = "/" + "/".join(str(p) for p in error.absolute_path)
    return f"at {where}: {clip(error.message, 160)}"


def _discriminators(schema: Any, depth: int = 0) -> set[tuple[str, str]]:
    """``(property, canonical JSON value)`` pairs a payload of ``schema`` is told by."""
    found: set[tuple[str, str]] = set()
    if not isinstance(schema, dict) or depth > 6:
        return found
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if "const" in prop:
            found.add((name, _canonical(prop["const"])))
        elif isinstance(prop.get("enum"), list) and len(prop["enum"]) == 1:
            found.add((name, _canonical(prop["enum"][0])))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key) or ():
            found |= _discriminators(sub, depth + 1)
    return found


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@lru_cache(maxsize=512)
def _tags(schema: str) -> frozenset[tuple[str, str]]:
    return frozenset(_discriminators(_schema(schema)))


def claims(message: ApiMessage, reading: Reading) -> bool:
    """Whether the payload carries one of ``message``'s discriminators."""
    value = reading.value
    if message.text or not isinstance(value, dict):
        return False
    return any(name in value and _canonical(value[name]) == v
               for name, v in _tags(message.schema))


def belongs(message: ApiMessage, reading: Reading) -> bool:
    """Whether ``reading`` is ``message``: valid against it, or claiming to be it."""
    return claims(message, reading) or schema_problem(message, reading) is None


def send_operation(api: ApiSpec, endpoint: int, reading: Reading,
                   unless: ApiOperation | None = None) -> ApiOperation | None:
    """The server's own operation (``send``) on ``endpoint`` that ``reading`` is a message of;
    None when it is none of them, or when it is one of ``unless``'s replies."""
    if unless is not None and unless.replies is not None and any(
            belongs(m, reading) for m in unless.replies):
        return None
    for op in api.sends(endpoint):
        if any(belongs(m, reading) for m in op.messages):
            return op
    return None


def other_message(api: ApiSpec, op: ApiOperation, reading: Reading) -> ApiMessage | None:
    """A message of the document, not one of ``op``'s replies, that the reply claims to be
    while it claims none of the replies: a reply on the wrong channel."""
    replies = op.replies or ()
    if any(belongs(m, reading) for m in replies):
        return None
    for message in api.messages:
        if message not in replies and claims(message, reading):
            return message
    return None


def _at(value: Any, tokens: tuple[str, ...]) -> tuple[bool, Any]:
    for token in tokens:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return False, None
    return True, value


def correlation_problem(op: ApiOperation, request: Reading, reply: Reading) -> str | None:
    """Why ``reply`` does not answer ``request`` by the correlation ids the document places,
    or None. Judged only when both carry an id of the same JSON type: an id of another type
    is a schema problem, a missing one the schema's business too."""
    for sent in op.messages:
        if not sent.correlation or not belongs(sent, request):
            continue
        has, want = _at(request.value, sent.correlation)
        if not has:
            continue
        for message in op.replies or ():
            if not message.correlation or not belongs(message, reply):
                continue
            got_it, got = _at(reply.value, message.correlation)
            if got_it and type(got) is type(want) and got != want:
                where = "/" + "/".join(message.correlation)
                return (f"the reply's correlation id (payload {where}) is "
                        f"{clip(_canonical(got), 60)}, the request's was "
                        f"{clip(_canonical(want), 60)}")
    return None


def simplest_payload(message: ApiMessage) -> Any:
    """The plainest payload ``message``'s schema allows, built from it directly: consts,
    first enum values, required properties only, minimal numbers and strings. Cheap and
    deterministic, for the fixed checks; may be invalid for schemas it cannot read (a
    pattern, say), which the caller checks."""
    return _simplest(_schema(message.schema), 0)


def _simplest(schema: Any, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 16:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    merged = dict(schema)
    for sub in schema.get("allOf") or ():
        if isinstance(sub, dict):
            merged["properties"] = {**(merged.get("properties") or {}),
                                    **(sub.get("properties") or {})}
            merged["required"] = [*(merged.get("required") or ()), *(sub.get("required") or ())]
            merged.setdefault("type", sub.get("type"))
    for key in ("oneOf", "anyOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            base = {k: v for k, v in merged.items() if k not in ("oneOf", "anyOf")}
            branch = branches[0] if isinstance(branches[0], dict) else {}
            return _simplest({**base, "allOf": [*(base.get("allOf") or ()), branch]}, depth + 1)
    kind = merged.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind is None and ("properties" in merged or "required" in merged):
        kind = "object"
    if kind == "object":
        props = merged.get("properties") or {}
        return {name: _simplest(props.get(name, {}), depth + 1)
                for name in dict.fromkeys(merged.get("required") or ())}
    if kind == "array":
        return [_simplest(merged.get("items", {}), depth + 1)
                for _ in range(int(merged.get("minItems", 0)))]
    if kind == "string":
        return "a" * int(merged.get("minLength", 0))
    if kind in ("integer", "number"):
        low = merged.get("minimum", merged.get("exclusiveMinimum", 0))
        return int(low) + (1 if "exclusiveMinimum" in merged else 0) if kind == "integer" \
            else low
    if kind == "boolean":
        return False
    return None
