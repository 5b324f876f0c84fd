"""Defect: after the 100th bye of the process (a farewell cache that fills up and is never
emptied), the bye word gets only the close, without the farewells. The suite's other checks
say the bye word about 20 times in all: only the long run says it a 101st time."""

from __future__ import annotations

from tests.implementations.raw_asgi import Conn
from tests.process_state import ProcessApp

BYES = 100


class App(ProcessApp):
    def start(self) -> None:
        self.byes = 0

    async def say_bye(self, conn: Conn) -> None:
        self.byes += 1
        if self.byes <= BYES:
            await super().say_bye(conn)
        else:
            await conn.close(self.bye_close_code)


app = App()
