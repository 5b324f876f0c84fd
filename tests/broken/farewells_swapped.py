"""Defect: the two farewells are sent in the wrong order."""

from __future__ import annotations

from tests.implementations.raw_asgi import FAREWELLS, ChatApp


class App(ChatApp):
    farewells = FAREWELLS[::-1]


app = App()
