"""Defect: the echo trims the message (``text.strip()``); the bye test still sees it raw."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + text.strip()


app = App()
