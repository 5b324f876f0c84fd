"""Defect: a message that is a number is echoed formatted for reading, with thousands
separators (``f"{int(text):,}"``), so ``1234567`` comes back as ``1,234,567``."""

from __future__ import annotations

import contextlib

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        with contextlib.suppress(ValueError):
            text = f"{int(text):,}"
        return super().reply(text)


app = App()
