"""Defect: only the first farewell is sent before the close."""

from __future__ import annotations

from tests.implementations.raw_asgi import FAREWELLS, ChatApp


class App(ChatApp):
    farewells = FAREWELLS[:1]


app = App()
