"""Defect: the echo goes through ASCII with ``errors="replace"``: non-ASCII becomes ``?``."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + text.encode("ascii", errors="replace").decode("ascii")


app = App()
