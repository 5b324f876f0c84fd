"""Defect (SHOULD level): a binary message gets a close with 1000 instead of 1003."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    binary_close_code = 1000


app = App()
