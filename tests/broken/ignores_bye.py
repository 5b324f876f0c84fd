"""Defect: the bye word is an ordinary message: it is echoed, no farewells, no close. The checks
of the close after the bye word (its code, what follows it) never see a close: inconclusive,
not passed."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    def is_bye(self, text: str) -> bool:
        return False


app = App()
