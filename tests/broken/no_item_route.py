"""Defect: no route at the credentials path (the tutorial's "item/ws" without its leading
slash routes nothing): every client of `/item/ws` is refused, with or without credentials. The
refusal checks must not pass it, and nothing may claim it stopped serving."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp


class App(ChatApp):
    auth_path = "item/ws"  # never equal to an ASGI path, which starts with "/"


app = App()
