"""Defect: ``q=0`` is taken as no ``q`` (``if q:`` instead of ``is not None``): no q line,
and the message line renders ``None``."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def auth_replies(self, credential: str | None, raw_q: str | None, q: int | None,
                     message: str) -> list[str]:
        if not q:
            raw_q, q = None, None
        return super().auth_replies(credential, raw_q, q, message)


app = App()
