"""Defect: every connection takes a slot from a pool of 400 and never gives it back (the
release sits in a branch no connection reaches), so once 400 connections have come and gone
in the process, every new one is accepted and closed at once with 1013 (try again later).
The suite's other checks open about 260 connections in all: only the long run crosses the
limit."""

from __future__ import annotations

from tests.implementations.raw_asgi import Conn, Receive, Scope, Send
from tests.process_state import ProcessApp

SLOTS = 400


class App(ProcessApp):
    def start(self) -> None:
        self.free = SLOTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if self.free == 0:
                conn = Conn(scope, receive, send)
                await receive()  # websocket.connect
                await conn.accept()
                await conn.close(1013)
                return
            self.free -= 1  # released only by a server shutdown that never comes
        await super().__call__(scope, receive, send)


app = App()
