"""Defect: the bye word is recognised by identity (``message is "bye"``), not by value. A
server decodes every frame into a new string, so the bye word is never recognised and is
echoed like any text. In-process it passed while the kit handed the app its own interned
string; the driver now delivers a fresh copy, as a server does."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def is_bye(self, text: str) -> bool:
        return text is self.bye_word


app = App()
