"""Defect: the echo is split into lines and joined with ``\\n`` (``str.splitlines``), so the
Unicode line and paragraph separators U+2028, U+2029 and NEL (U+0085) come back as ``\\n``;
plain ``\\n``, ``\\r\\n`` and ``\\r`` messages still look right."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp

_UNICODE_BREAKS = {"\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"}


class App(ChatApp):
    def reply(self, text: str) -> str:
        # Only the breaks beyond CR and LF are rewritten: this is how `splitlines` differs.
        return PREFIX + "".join("\n" if c in _UNICODE_BREAKS else c for c in text)


app = App()
