"""Defect: every echo connection is greeted with an unsolicited ``welcome`` right after the
accept, before the client said anything."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        original = conn.accept

        async def accept_and_greet() -> None:
            await original()
            await conn.send_text("welcome")

        conn.accept = accept_and_greet  # type: ignore[method-assign]
        await super().echo(conn)


app = App()
