"""Defect: the credentials endpoint refuses messages over 8 KiB (close 1009), a limit set on
that route alone; the echo endpoint takes 64 KiB as the protocol says."""

from __future__ import annotations

from tests.implementations.raw_asgi import ChatApp, Conn

LIMIT = 8 * 1024


class App(ChatApp):
    async def on_auth_message(self, conn: Conn, credential: str | None, raw_q: str | None,
                              q: int | None, message: str) -> None:
        if len(message.encode("utf-8")) > LIMIT:
            await conn.close(1009)
            return
        await super().on_auth_message(conn, credential, raw_q, q, message)


app = App()
