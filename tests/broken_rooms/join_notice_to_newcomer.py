"""Defect: the join notice goes to everyone, the newcomer included (the spec sends it to
the clients already there), checked against the chat spec with a ``join_notice``."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.announcing import Announcing
from tests.broken_rooms.room import make_app


class ToAll(Announcing):
    async def enter(self, websocket: WebSocket, who: int) -> None:
        await websocket.accept()
        self.members.append(websocket)
        await self.to_all(f"Client #{who} joined the chat", list(self.members))


app = make_app(ToAll())
