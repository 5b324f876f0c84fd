"""Defect: a ``q`` longer than 20 characters is refused (1008), a length guard that every
``q`` of machine-integer size passes; the protocol's ``q`` is an integer of any size."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def parse_q(self, raw: str) -> int | None:
        return None if len(raw) > 20 else super().parse_q(raw)


app = App()
