"""Defect: ``\\r\\n`` and ``\\r`` are turned into ``\\n`` in the echo."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + text.replace("\r\n", "\n").replace("\r", "\n")


app = App()
