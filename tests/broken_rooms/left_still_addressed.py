"""Defect: a client that leaves is announced but never taken out of the room, so every later
broadcast is still sent to it (and sending to it fails the sender's conversation)."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Forgetful(Room):
    def forget(self, websocket: WebSocket) -> None:
        pass  # the list keeps the connection that left

    async def deliver(self, member: WebSocket, text: str) -> bool:
        await member.send_text(text)  # a member in the list is taken to be there
        return True


app = make_app(Forgetful())
