"""Defect: single quotes are doubled as for an SQL string literal (the message is stored
first, and the escaped text is what gets echoed), so ``it's`` comes back as ``it''s``."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return super().reply(text.replace("'", "''"))


app = App()
