"""Defect: the bye word is matched after dropping invisible characters — format characters
(zero-width space, BOM) and controls other than whitespace (``bye\\x00`` ends the chat)."""

from __future__ import annotations

import unicodedata

from tests.implementations.raw_asgi import ChatApp


def _visible(text: str) -> str:
    return "".join(c for c in text if c.isspace()
                   or unicodedata.category(c) not in ("Cc", "Cf"))


class App(ChatApp):
    def is_bye(self, text: str) -> bool:
        return _visible(text) == self.bye_word


app = App()
