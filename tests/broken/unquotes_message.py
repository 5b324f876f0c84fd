"""Defect: the message is URL-decoded (``unquote_plus``) as if it came from a form, so ``%20``
becomes a space and ``a+b`` ``a b``."""

from __future__ import annotations

from urllib.parse import unquote_plus

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def reply(self, text: str) -> str:
        return super().reply(unquote_plus(text))


app = App()
