"""Defect: messages are cut at 1000 characters."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + text[:1000]


app = App()
