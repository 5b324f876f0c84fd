"""Defect: the ``parameter q is: ...`` line is never sent."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def auth_replies(self, credential: str | None, raw_q: str | None, q: int | None,
                     message: str) -> list[str]:
        return super().auth_replies(credential, None, q, message)


app = App()
