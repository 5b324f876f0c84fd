"""Defect (SHOULD level): on the credentials endpoint a binary message is ignored instead of
closing with 1003 (the echo endpoint gets it right)."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn


class App(ChatApp):
    async def auth(self, conn: Conn) -> None:
        original = conn.receive

        async def texts_only() -> str | bytes:
            while isinstance(message := await original(), bytes):
                pass
            return message

        conn.receive = texts_only  # type: ignore[method-assign]
        await super().auth(conn)


app = App()
