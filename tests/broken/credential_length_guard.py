"""Defect: a credential longer than 1,024 characters is refused like a missing one (a "sanity"
guard), although the protocol renders values of any length a header can carry."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp

LIMIT = 1024


class App(ChatApp):
    def has_credentials(self, cookie: str | None, token: str | None) -> bool:
        if any(v is not None and len(v) > LIMIT for v in (cookie, token)):
            return False
        return super().has_credentials(cookie, token)


app = App()
