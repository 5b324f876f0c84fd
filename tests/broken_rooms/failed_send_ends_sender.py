"""Defect: a send to a member that vanished (its own endpoint has not seen the disconnect
yet) is not caught: the failure ends the conversation of the client whose message was being
broadcast, and the members after the vanished one never get that message. FastAPI's
tutorial003 broadcasts this way."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Trusting(Room):
    async def deliver(self, member: WebSocket, text: str) -> bool:
        await member.send_text(text)  # raises WebSocketDisconnect into the sender's loop
        return True


app = make_app(Trusting())
