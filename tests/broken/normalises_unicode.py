"""Defect: the echo is NFC-normalised (``e`` + combining acute comes back as ``é``)."""

from __future__ import annotations

import unicodedata

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + unicodedata.normalize("NFC", text)


app = App()
