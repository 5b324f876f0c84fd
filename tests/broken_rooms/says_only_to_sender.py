"""Defect: what a client says is sent back to it as the broadcast text, and to nobody else
(an echo dressed as a chat); leave notices still reach the others."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Alone(Room):
    def audience(self, sender: WebSocket) -> list[WebSocket]:
        return [sender]


app = make_app(Alone())
