"""The opening handshake: the target URL checked, the request's cookies, and the ``101``
answer checked as RFC 6455 §4.1 asks of a client.

Pure functions of values, so that the rules are read (and tested) in one place apart from
the sockets of :mod:`wscheck.drivers.url`.
"""

from __future__ import annotations

import re

import httpx
from wsproto.utilities import generate_accept_token

from wscheck.core.cookies import cookie_header as core_cookie_header
from wscheck.drivers._neterrors import (
    SETTING,
)
from wscheck.drivers.base import Pairs
from wscheck.errors import SettingError

__all__ = ["cookie_header", "handshake_problem", "page_origin", "parse_target_url"]


def parse_target_url(url: str) -> httpx.URL:
    """Check a target URL and return it parsed.

    The target is ``ws://HOST[:PORT][/prefix]`` or the ``wss://`` form; every connection's
    path is appended to the prefix. A query string or fragment is refused rather than merged
    because each conversation brings its own query and the result would be ambiguous.
    Raises :class:`~wscheck.errors.SettingError` with one line saying what is wrong and what to do.
    """
    if "://" not in url:
        raise SettingError(
            f"{SETTING} must start with ws:// or wss://, got {url!r}: write it as ws://{url}"
        )
    if re.search(r"%(?:[01][0-9a-fA-F]|7[fF])|[\x00-\x20\x7f]", url):
        raise SettingError(
            f"{SETTING} must not hold a control character or space, raw or %-encoded, "
            f"got {url.encode('unicode_escape').decode('ascii')!r}"
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise SettingError(f"{SETTING} is not a valid URL ({exc}), got {url!r}") from None
    if parsed.userinfo:
        raise SettingError(
            f"{SETTING} must not carry user:password@ (it would be sent as HTTP Basic "
            "credentials and shown in reports): give ws://HOST:PORT, and the credentials "
            "the protocol takes through the spec's cookie and token"
        )
    if parsed.scheme not in ("ws", "wss"):
        raise SettingError(f"{SETTING} must start with ws:// or wss://, got {url!r}")
    if not parsed.host:
        raise SettingError(f"{SETTING} needs a host, as in ws://127.0.0.1:8000, got {url!r}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise SettingError(f"{SETTING} has a port out of range (1-65535), got {url!r}")
    if parsed.query or parsed.fragment:
        raise SettingError(
            f"{SETTING} must not carry a query string or fragment, got {url!r}: "
            "give only ws://HOST:PORT and an optional path prefix"
        )
    return parsed


def cookie_header(cookies: Pairs) -> bytes:
    """``a=1; session=`` in the given order, values as UTF-8 (what browsers send); an empty
    name is a nameless cookie, sent as its bare value.

    Values are not quoted or escaped: the kit sends exactly what the conversation holds. A
    character that would change how the header splits is refused instead of sent, since the
    server would then see other cookies than the ones the model reasons about.
    """
    for name, value in cookies:
        if any(c in name for c in "=; \t\r\n\0"):
            raise ValueError(f"cookie name {name!r} cannot be sent in a Cookie header")
        if any(c in value for c in ";\r\n\0") or (not name and "=" in value):
            raise ValueError(
                f"cookie value {value!r} for {name!r} cannot be sent in a Cookie header"
            )
    return core_cookie_header(cookies).encode("utf-8")


def page_origin(url: httpx.URL) -> str:
    """The ``Origin`` a browser sends from a page served by the target at ``url``
    (RFC 6454): ``http`` for ``ws``, ``https`` for ``wss``, the host, and the port unless it
    is the scheme's default. The path prefix is no part of an origin."""
    scheme = "https" if url.scheme == "wss" else "http"
    host = url.raw_host.decode("ascii")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{url.port}" if url.port is not None else "")


def _shown(value: str) -> str:
    """A header value as a report shows it: control characters escaped, at most 80 long."""
    text = value.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 80 else text[:77] + "..."


def handshake_problem(headers: httpx.Headers, key: bytes) -> str | None:
    """What makes a ``101`` answer one the client must fail (RFC 6455 §4.1), naming the
    header and its value; ``None`` for a valid upgrade.

    Neither httpx nor httpcore looks at these headers (httpcore hands over the socket on any
    ``101``), and the driver does its own request rather than httpx-ws's, so the checks are
    here. The kit offers no extension and no subprotocol, so any in the answer is one it never
    asked for: taking it would mean reading frames under rules the server chose alone.
    """
    rfc = "RFC 6455 §4.1: the client must fail the connection"
    upgrade = headers.get("upgrade")
    if upgrade is None:
        return f"the 101 answer has no Upgrade header ({rfc} without Upgrade: websocket)"
    if upgrade.strip().lower() != "websocket":
        return f"the 101 answer has Upgrade: {_shown(upgrade)}, not websocket ({rfc})"
    connection = headers.get("connection")
    if connection is None:
        return f"the 101 answer has no Connection header ({rfc} without Connection: Upgrade)"
    if "upgrade" not in (token.strip().lower() for token in connection.split(",")):
        return (f"the 101 answer has Connection: {_shown(connection)}, without the Upgrade "
                f"token ({rfc})")
    accept = headers.get("sec-websocket-accept")
    expected = generate_accept_token(key).decode("ascii")
    if accept is None:
        return f"the 101 answer has no Sec-WebSocket-Accept header ({rfc})"
    if accept.strip() != expected:
        return (f"the 101 answer has Sec-WebSocket-Accept: {_shown(accept)}, not the token "
                f"for the key sent ({expected}) ({rfc})")
    extensions = headers.get("sec-websocket-extensions")
    if extensions is not None and extensions.strip():
        return (f"the 101 answer has Sec-WebSocket-Extensions: {_shown(extensions)}, an "
                f"extension the client never offered ({rfc})")
    protocol = headers.get("sec-websocket-protocol")
    if protocol is not None and protocol.strip():
        return (f"the 101 answer has Sec-WebSocket-Protocol: {_shown(protocol)}, a "
                f"subprotocol the client never asked for ({rfc})")
    return None


