"""Defect: tag characters (U+E0000-U+E007F, which spell emoji subdivision flags) are dropped
from the echo, so a flag of Scotland comes back as a bare black flag."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + "".join(c for c in text if not "\U000e0000" <= c <= "\U000e007f")


app = App()
