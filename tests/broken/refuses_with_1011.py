"""Defect: missing credentials (or a bad ``q``) get accept-then-close with 1011 (internal
error) instead of 1008 (policy violation)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    denied_close_code = 1011


app = App()
