"""Defect: a client that has spoken leaves without a leave notice (the notice is sent only
for clients that never said anything); only conversations where a speaker leaves show it."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Forgets(Room):
    def __init__(self) -> None:
        super().__init__()
        # The connections themselves, not their id(): an id is reused once its object is
        # collected, and a later client would then count as one that spoke.
        self.spoke: set[WebSocket] = set()

    async def said(self, websocket: WebSocket, who: int, data: str) -> None:
        self.spoke.add(websocket)
        await super().said(websocket, who, data)

    async def left(self, websocket: WebSocket, who: int) -> None:
        if websocket in self.spoke:
            self.spoke.discard(websocket)
            self.forget(websocket)
            return
        await super().left(websocket, who)


app = make_app(Forgets())
