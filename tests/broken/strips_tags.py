"""Defect: anything that looks like an HTML tag is stripped from the message
(``re.sub(r"<[^>]*>", "", text)``), so ``<b>bold</b>`` comes back as ``bold``."""

from __future__ import annotations

import re

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return super().reply(re.sub(r"<[^>]*>", "", text))


app = App()
