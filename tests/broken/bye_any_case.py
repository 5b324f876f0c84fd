"""Defect: the bye word is matched case-insensitively (``Bye`` and ``BYE`` end the chat)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def is_bye(self, text: str) -> bool:
        return text.lower() == self.bye_word


app = App()
