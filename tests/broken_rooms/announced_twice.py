"""Defect: a member that a failed send took out (and announced) is announced again when its
own endpoint sees the disconnect: the leave notice does not check whether the member is
still in the room, so those who remain get it twice."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Repeating(Room):
    async def left(self, websocket: WebSocket, who: int) -> None:
        self.forget(websocket)
        await self.to_all(f"Client #{who} left the chat", list(self.members))


app = make_app(Repeating())
