"""Defect: a connection idle for 2.5 s is closed (1000),
an idle timeout as servers and proxies set them, against /ws 3 (the connection stays open
however long it is idle). Longer than the default idle watch of 2 s, so a watch of the clock
alone never sees it: in-process, echo.idle follows the app's own timer past the watch."""

from __future__ import annotations

import asyncio

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn

#: Seconds of silence from the client after which the connection is closed.
IDLE_LIMIT = 2.5


class _Conn(Conn):
    async def receive(self) -> str | bytes:
        try:
            return await asyncio.wait_for(super().receive(), IDLE_LIMIT)
        except asyncio.TimeoutError:
            await self.close(1000)  # the defect: idleness ends nothing
            raise ClientGone from None


class App(ChatApp):
    conn_type = _Conn


app = App()
