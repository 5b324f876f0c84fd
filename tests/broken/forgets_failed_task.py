"""Defect (SHOULD level): when a client goes away the app starts a clean-up task that fails
and never looks at it again, so asyncio logs "Task exception was never retrieved" at ERROR
when the task is collected."""

from __future__ import annotations

import asyncio

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn


async def _clean_up() -> None:
    raise RuntimeError("session store is gone")


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        try:
            await super().echo(conn)
        except ClientGone:
            asyncio.get_running_loop().create_task(_clean_up())  # the reference is dropped
            await asyncio.sleep(0.01)  # the task runs, fails and is collected meanwhile
            raise


app = App()
