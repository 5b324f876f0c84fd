"""Defect: every space separator (category ``Zs``: the ideographic space U+3000, the Ogham
space mark U+1680, the no-break space...) comes back as an ASCII space, as a text cleaner
does."""

from __future__ import annotations

import unicodedata

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)


app = App()
