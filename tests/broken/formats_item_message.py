"""Defect: on the credentials endpoint the message line is built by pasting the message into
the template and formatting after (``("Message text was: " + text + ", for : {q}").format(q=q)``),
so braces in a message break the line: the app raises."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def auth_replies(self, credential: str | None, raw_q: str | None, q: int | None,
                     message: str) -> list[str]:
        replies = super().auth_replies(credential, raw_q, q, message)
        replies[-1] = ("Message text was: " + message + ", for : {q}").format(q=q)
        return replies


app = App()
