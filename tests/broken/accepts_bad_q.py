"""Defect: a ``q`` that is not an integer is accepted (and taken as 0) instead of refused."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def parse_q(self, raw: str) -> int | None:
        parsed = super().parse_q(raw)
        return 0 if parsed is None else parsed


app = App()
