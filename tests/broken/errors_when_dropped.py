"""Defect (SHOULD level): the app logs ``logging.error`` (the root logger) when a client drops
without a closing handshake, from a task of its own it started for the connection."""

from __future__ import annotations

import asyncio
import logging

from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn


async def _report(code: int) -> None:
    logging.error("connection lost without a close (code %d)", code)


class _Conn(Conn):
    async def receive(self) -> str | bytes:
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            if message.get("code", 1000) == 1006:
                await asyncio.create_task(_report(1006))  # inherits the app's context
            raise ClientGone
        text = message.get("text")
        return str(text) if text is not None else bytes(message.get("bytes") or b"")


class App(ChatApp):
    async def echo(self, conn: Conn) -> None:
        await super().echo(_Conn(conn.scope, conn._receive, conn._send))


app = App()
