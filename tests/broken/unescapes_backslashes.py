"""Defect: backslash escapes typed in a message are decoded (``unicode_escape``, kept safe for
non-ASCII text), so ``\\n`` typed as two characters becomes a newline and ``\\u00e9`` an
``é``."""

from __future__ import annotations

import codecs

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        raw = text.encode("latin-1", "backslashreplace")
        return PREFIX + codecs.decode(raw, "unicode_escape")


app = App()
