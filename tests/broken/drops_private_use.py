"""Defect: private-use characters (category ``Co``: U+E000-U+F8FF and the supplementary
planes 15-16) are dropped from the echo, as a sanitiser that keeps only "real" characters
does."""

from __future__ import annotations

import unicodedata

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + "".join(c for c in text if unicodedata.category(c) != "Co")


app = App()
