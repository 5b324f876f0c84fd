"""The correct room with a join notice: when a client joins, those already there get
``Client #{client_id} joined the chat`` (checked against the chat spec with that
``join_notice``, :data:`tests.test_broken_rooms.JOIN_SPEC`)."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Announcing(Room):
    async def enter(self, websocket: WebSocket, who: int) -> None:
        await websocket.accept()
        await self.to_all(f"Client #{who} joined the chat", list(self.members))
        self.members.append(websocket)


app = make_app(Announcing())
