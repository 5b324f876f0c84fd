"""Defect: on the credentials endpoint the message line comes before the credential line
(the three lines are all there, in the wrong order)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def auth_replies(self, credential: str | None, raw_q: str | None, q: int | None,
                     message: str) -> list[str]:
        replies = super().auth_replies(credential, raw_q, q, message)
        return replies[-1:] + replies[:-1]


app = App()
