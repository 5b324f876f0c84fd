"""Defect: the message line is "tidied" to ``Message text was: m, for: q``; the brief keeps
the tutorial's ``for : q``, space before the colon included."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def auth_replies(self, credential: str | None, raw_q: str | None, q: int | None,
                     message: str) -> list[str]:
        replies = super().auth_replies(credential, raw_q, q, message)
        replies[-1] = f"Message text was: {message}, for: {q}"
        return replies


app = App()
