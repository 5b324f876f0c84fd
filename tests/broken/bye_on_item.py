"""Defect: the bye word ends the chat on the credentials endpoint too."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def on_auth_message(self, conn: Conn, credential: str | None, raw_q: str | None,
                              q: int | None, message: str) -> None:
        if self.is_bye(message):
            await self.say_bye(conn)
            return
        await super().on_auth_message(conn, credential, raw_q, q, message)


app = App()
