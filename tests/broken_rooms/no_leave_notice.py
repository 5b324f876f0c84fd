"""Defect: a client that leaves is taken out of the room, but the others are never told
(no leave notice)."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Quiet(Room):
    async def left(self, websocket: WebSocket, who: int) -> None:
        self.forget(websocket)


app = make_app(Quiet())
