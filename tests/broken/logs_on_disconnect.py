"""Defect (SHOULD level): the app catches the failure a departed client causes and logs it at
ERROR with its traceback, as framework error middleware does, instead of ending quietly. The
logger does not propagate to the root (it has a handler of its own, as Litestar's and
uvicorn's loggers do)."""

from __future__ import annotations

import logging

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn

log = logging.getLogger("chat.errors")
log.addHandler(logging.NullHandler())
log.propagate = False


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        try:
            await super().echo(conn)
        except ClientGone:
            log.exception("Exception in ASGI application")

    async def auth(self, conn: Conn) -> None:
        try:
            await super().auth(conn)
        except ClientGone:
            log.exception("Exception in ASGI application")


app = App()
