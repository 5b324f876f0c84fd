"""Failure text: the conversation, then expected and observed transcripts side by side.

Widths are counted in terminal cells (CJK characters take two) so the two columns line up for
the reference protocol's Chinese strings too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from wscheck.core.events import Conversation, Event, describe
from wscheck.core.limits import printable

__all__ = ["first_difference", "render_conversation", "side_by_side"]

_MAX_CELL = 60


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _clip(text: str, limit: int = _MAX_CELL) -> str:
    if _cells(text) <= limit:
        return text
    out, used = [], 0
    for c in text:
        used += _cells(c)
        if used > limit - 1:
            break
        out.append(c)
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _cells(text))


def first_difference(expected: Sequence[Event], observed: Sequence[Event]) -> int | None:
    """Index of the first event where the transcripts differ, or None when they are equal."""
    for i, (a, b) in enumerate(zip(expected, observed)):
        if a != b:
            return i
    if len(expected) != len(observed):
        return min(len(expected), len(observed))
    return None


def render_conversation(conversation: Conversation) -> str:
    """The client's side: where it connected and what it did, one action a line."""
    where = conversation.path
    if conversation.query:
        where += "?" + "&".join(k if getattr(v, "spelling", None) == "bare" else f"{k}={v}"
                                for k, v in conversation.query)
    where = printable(where)  # it may come from a report someone edited
    lines = [f"connect {where}" + ("  (pipelined: all sent before reading)"
                                   if conversation.pipelined else "")]
    if conversation.origin:
        lines[0] += "  with the Origin header a browser sends"
    if conversation.cookies:
        lines[0] += "  cookies: " + "; ".join(f"{k}={v!r}" if k else repr(v)
                                              for k, v in conversation.cookies)
    lines += [f"  {describe(a)}" for a in conversation.actions]
    return "\n".join(lines)


def side_by_side(expected: Sequence[Event], observed: Sequence[Event]) -> str:
    """Two columns, one event a row, the first differing row marked with ``>>``."""
    diff = first_difference(expected, observed)
    left = [_clip(describe(e)) for e in expected]
    right = [_clip(describe(e)) for e in observed]
    width = max([_cells(x) for x in left] + [len("expected")])
    rows = [f"     {_pad('expected', width)}   observed"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else "—"
        b = right[i] if i < len(right) else "—"
        mark = ">>" if i == diff else "  "
        rows.append(f"{mark}{i:>2} {_pad(a, width)} | {b}")
    return "\n".join(rows)
