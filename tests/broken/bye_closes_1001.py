"""Defect: the close after the bye word has code 1001 (going away) instead of 1000."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    bye_close_code = 1001


app = App()
