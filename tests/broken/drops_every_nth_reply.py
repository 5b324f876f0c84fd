"""Defect: a process-wide counter of replies (a sampling hook gone wrong) drops every
2,000th reply of the process, whichever connection it belongs to. The suite's other checks
draw about 1,100 replies in all: only the long run reaches the 2,000th."""

from __future__ import annotations

from tests.implementations.raw_asgi import Conn
from tests.process_state import ProcessApp

EVERY = 2000


class App(ProcessApp):
    def start(self) -> None:
        self.replies = 0

    async def send_reply(self, conn: Conn, text: str) -> None:
        self.replies += 1
        if self.replies % EVERY:
            await super().send_reply(conn, text)


app = App()
