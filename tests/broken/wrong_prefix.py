"""Defect: a space after the colon of the echo prefix (``接收到的消息是: hi``)."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return PREFIX + " " + text


app = App()
