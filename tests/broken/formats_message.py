"""Defect: the message is pasted into a format string and formatted again
(``(PREFIX + text).format()``), so braces in a message break the reply: the app raises."""

from __future__ import annotations

from tests.implementations.raw_asgi import PREFIX, ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return (PREFIX + text).format()


app = App()
