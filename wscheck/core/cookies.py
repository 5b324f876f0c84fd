"""The ``Cookie`` header as the kit writes it, and as standard cookie parsing reads it back.

The protocol renders the session cookie "as standard cookie parsing gives it (Starlette's,
like Python's ``http.cookies``)". The model computes the value it expects from the header the
drivers send, with that parser's rules, so that a conversation may carry whatever a browser
sends (a value in double quotes, a nameless cookie, a value with ``=`` in it) and any hand-rolled
parser that reads it otherwise fails: differential parsing, with the standard one as oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from http.cookies import SimpleCookie

__all__ = ["cookie_header", "parse_cookie_header"]

#: Unquotes a value the way ``http.cookies`` does (its documented ``value_decode``).
_UNQUOTE = SimpleCookie()


def cookie_header(cookies: Sequence[tuple[str, str]]) -> str:
    """``a=1; session=x`` in the given order, values exactly as given (never quoted or escaped
    by the kit). A pair with an empty name is a *nameless* cookie, sent as its bare value
    (``abc; session=x``), as browsers send a cookie set without ``=``."""
    return "; ".join(value if not name else f"{name}={value}" for name, value in cookies)


def parse_cookie_header(header: str) -> dict[str, str]:
    """The cookies a server reads from ``header``, by Starlette's rules (adapted from
    Django's, on Python's unquoting): split on ``;``, each chunk on its first ``=`` (none: a
    nameless cookie), name and value stripped of surrounding whitespace, a value in double
    quotes unquoted as ``http.cookies`` does, no percent-decoding; the last of a repeated
    name wins."""
    found: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            name, value = "", chunk
        name, value = name.strip(), value.strip()
        if name or value:
            found[name] = _UNQUOTE.value_decode(value)[0]
    return found
