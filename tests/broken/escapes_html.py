"""Defect: the echo is HTML-escaped (``html.escape``) for the chat page, so ``<``, ``>``,
``&`` and quotes come back as entities; the page already shows messages as text."""

from __future__ import annotations

import html

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return super().reply(html.escape(text))


app = App()
