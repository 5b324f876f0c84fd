"""Defect: the first farewell is written with a full-width colon (``请注意:`` with U+FF1A),
the way a Chinese keyboard types it; the brief's colons are ASCII."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    farewells = ("请注意\uff1a窗口即将关闭", "窗口已关闭")


app = App()
