"""Defect: the bye word is matched after NFKC normalisation (fullwidth ``ｂｙｅ`` and
mathematical bold ``𝐛𝐲𝐞`` end the chat)."""

from __future__ import annotations

import unicodedata

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def is_bye(self, text: str) -> bool:
        return unicodedata.normalize("NFKC", text) == self.bye_word


app = App()
