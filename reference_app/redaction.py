"""Credentials kept out of the reference server's logs: uvicorn's and websockets' records
rewritten so that no token, cookie or reply that repeats them is printed."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["RedactCredentials", "redact_credentials_in_logs"]


_SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
_REDACTED = "[redacted]"
_QUERY_IN_TEXT = re.compile(r"(/[^\s\"'?]*)\?[^\s\"']*")


def _redact_path(value: str) -> str:
    """``/item/ws?token=secret`` becomes ``/item/ws?[redacted]``; anything else is kept."""
    if value.startswith("/") and "?" in value:
        return value.split("?", 1)[0] + "?" + _REDACTED
    return value


def _redact_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an ASGI scope or message (uvicorn logs them at TRACE) without the query
    string and the values of credential headers."""
    redacted = dict(scope)
    if redacted.get("query_string"):
        redacted["query_string"] = _REDACTED.encode()
    headers = redacted.get("headers")
    if isinstance(headers, list | tuple):
        redacted["headers"] = [
            (name, _REDACTED.encode())
            if isinstance(name, bytes) and name.lower().decode("latin-1") in _SECRET_HEADERS
            else (name, value)
            for name, value in headers
        ]
    return redacted


def _redact_frame(frame: Any) -> object:
    """A websockets frame (logged at DEBUG) without its payload: the replies carry the
    credential back (``Session cookie or query token value is: ...``). Close frames, whose
    payload is a code and a reason, are kept."""
    opcode = getattr(getattr(frame, "opcode", None), "name", None)
    data = getattr(frame, "data", None)
    if opcode is None or opcode == "CLOSE" or not isinstance(data, bytes | bytearray):
        return frame
    more = "" if getattr(frame, "fin", True) else ", continued"
    return f"{opcode} {_REDACTED} [{len(data)} bytes{more}]"


def _redact_arg(value: object) -> object:
    if isinstance(value, str):
        return _redact_path(value)
    if isinstance(value, Mapping):
        return _redact_scope(value)
    return _redact_frame(value)


class RedactCredentials(logging.Filter):
    """Keeps credentials out of uvicorn's log records, whatever the log level.

    uvicorn logs every WebSocket handshake (INFO) and every HTTP request (access log) with
    the path *and query string*, where the token travels; at DEBUG, websockets logs the
    request line and every header, the cookie included. This filter rewrites those records
    in place: the query string of any logged path becomes ``?[redacted]``, the value of a
    ``Cookie``, ``Set-Cookie`` or ``Authorization`` header line becomes ``[redacted]``, and
    so does the payload of every data frame websockets logs at DEBUG (the protocol's
    replies repeat the credential). At TRACE, uvicorn logs whole ASGI scopes, whose query
    string and credential headers are redacted the same way. The arguments keep their
    shape, so uvicorn's access-log formatter still works.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            header_line = (isinstance(record.msg, str) and record.msg.endswith("%s: %s")
                           and len(args) == 2 and isinstance(args[0], str))
            if header_line and str(args[0]).lower() in _SECRET_HEADERS:
                record.args = (args[0], _REDACTED)
            else:
                record.args = tuple(_redact_arg(a) for a in args)
        elif not args and isinstance(record.msg, str) and "?" in record.msg:
            record.msg = _QUERY_IN_TEXT.sub(lambda m: m.group(1) + "?" + _REDACTED, record.msg)
        return True


#: The loggers uvicorn (and websockets, through uvicorn's logger) write requests to.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi",
                   "websockets", "websockets.server")


def redact_credentials_in_logs() -> None:
    """Install :class:`RedactCredentials` on uvicorn's and websockets' loggers (once).

    Call it after building the ``uvicorn.Config`` (which reconfigures logging);
    :func:`reference_app.uvicorn_config` does.
    """
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
