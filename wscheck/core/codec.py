"""Events, actions and conversations as JSON values, and back.

Each event and action is a JSON object with a ``type`` field (``{"type": "text", "text":
"hi"}``); the report (``docs/report-schema.md``) stores them this way and ``wscheck replay``
reads them back with :func:`event_from_json` / :func:`conversation_from_json`. The readers
take values already checked for their JSON types (see :mod:`wscheck.reporting.replay`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from wscheck.core.events import (
    Accepted,
    Action,
    AppCrashed,
    AppExited,
    AppLogged,
    Binary,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Event,
    Flooded,
    ProtocolViolation,
    Refused,
    SendBytes,
    SendText,
    Silence,
    SpacesAs,
    Text,
    TransportError,
)

__all__ = [
    "action_from_json",
    "action_to_json",
    "conversation_from_json",
    "conversation_to_json",
    "event_from_json",
    "event_to_json",
    "query_pair_from_json",
]

JSON = Any



def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def event_to_json(event: Event) -> dict[str, JSON]:
    """One event as a JSON object with a ``type`` field."""
    match event:
        case Accepted():
            return {"type": "accepted"}
        case Text(text):
            return {"type": "text", "text": text}
        case Binary(data):
            return {"type": "binary", "base64": _b64(data), "size": len(data)}
        case Closed(code, reason):
            return {"type": "closed", "code": code, "reason": reason}
        case Refused(status, close_code):
            return {"type": "refused", "status": status, "close_code": close_code}
        case Silence(seconds):
            return {"type": "silence", "seconds": seconds}
        case AppCrashed(exception):
            return {"type": "app_crashed", "exception": exception}
        case AppExited():
            return {"type": "app_exited"}
        case AppLogged(level, logger, message):
            return {"type": "app_logged", "level": level, "logger": logger, "message": message}
        case ProtocolViolation(problem):
            return {"type": "protocol_violation", "problem": problem}
        case TransportError(problem):
            return {"type": "transport_error", "problem": problem}
        case Flooded(messages, size):
            return {"type": "flooded", "messages": messages, "size": size}
    raise TypeError(f"not an event: {event!r}")  # pragma: no cover


def event_from_json(data: Mapping[str, JSON]) -> Event:
    """The inverse of :func:`event_to_json`."""
    kind = data.get("type")
    if kind == "accepted":
        return Accepted()
    if kind == "text":
        return Text(str(data["text"]))
    if kind == "binary":
        return Binary(base64.b64decode(data["base64"]))
    if kind == "closed":
        return Closed(int(data["code"]), str(data.get("reason", "")))
    if kind == "refused":
        return Refused(data.get("status"), data.get("close_code"))
    if kind == "silence":
        return Silence(float(data.get("seconds", 0.0)))
    if kind == "app_crashed":
        return AppCrashed(str(data["exception"]))
    if kind == "app_exited":
        return AppExited()
    if kind == "app_logged":
        return AppLogged(str(data["level"]), str(data["logger"]), str(data["message"]))
    if kind == "protocol_violation":
        return ProtocolViolation(str(data["problem"]))
    if kind == "transport_error":
        return TransportError(str(data["problem"]))
    if kind == "flooded":
        return Flooded(int(data["messages"]), int(data["size"]))
    raise ValueError(f"unknown event type {kind!r}")


def action_to_json(action: Action) -> dict[str, JSON]:
    """One client action as a JSON object with a ``type`` field."""
    match action:
        case SendText(text):
            return {"type": "send_text", "text": text}
        case SendBytes(data):
            return {"type": "send_bytes", "base64": _b64(data), "size": len(data)}
        case ClientClose(code):
            return {"type": "client_close", "code": code}
        case Drop(in_flight):
            return {"type": "drop", "in_flight": in_flight}
    raise TypeError(f"not an action: {action!r}")  # pragma: no cover


def action_from_json(data: Mapping[str, JSON]) -> Action:
    """The inverse of :func:`action_to_json`."""
    kind = data.get("type")
    if kind == "send_text":
        return SendText(str(data["text"]))
    if kind == "send_bytes":
        return SendBytes(base64.b64decode(data["base64"]))
    if kind == "client_close":
        return ClientClose(int(data.get("code", 1000)))
    if kind == "drop":
        return Drop(bool(data.get("in_flight", False)))
    raise ValueError(f"unknown action type {kind!r}")


def _query_pair_to_json(name: str, value: str) -> list[str]:
    """``[name, value]``, or ``[name, value, spelling]`` for a value whose spaces the kit
    spells one way (:class:`~wscheck.core.events.SpacesAs`): a replay must send the spelling the
    failure was observed with, since ``+`` and ``%20`` decode alike only in a conforming app."""
    if isinstance(value, SpacesAs):
        return [name, str(value), value.spelling]
    return [name, value]


def query_pair_from_json(pair: Sequence[JSON]) -> tuple[str, str]:
    """The inverse of the query pair written by :func:`conversation_to_json`."""
    name, value = str(pair[0]), str(pair[1])
    if len(pair) > 2:
        return name, SpacesAs(value, str(pair[2]))
    return name, value


def conversation_to_json(conversation: Conversation) -> dict[str, JSON]:
    return {
        "path": conversation.path,
        "query": [_query_pair_to_json(k, v) for k, v in conversation.query],
        "cookies": [[k, v] for k, v in conversation.cookies],
        "pipelined": conversation.pipelined,
        "origin": conversation.origin,
        "actions": [action_to_json(a) for a in conversation.actions],
    }


def conversation_from_json(data: Mapping[str, JSON]) -> Conversation:
    """The inverse of :func:`conversation_to_json`."""
    return Conversation(
        path=str(data["path"]),
        actions=tuple(action_from_json(a) for a in data.get("actions", ())),
        query=tuple(query_pair_from_json(p) for p in data.get("query", ())),
        cookies=tuple((str(k), str(v)) for k, v in data.get("cookies", ())),
        pipelined=bool(data.get("pipelined", False)),
        origin=bool(data.get("origin", False)),
    )
