"""Defect: the broadcast goes to every client but the sender, which only gets its personal
reply (the spec says everyone)."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class OthersOnly(Room):
    def audience(self, sender: WebSocket) -> list[WebSocket]:
        return [m for m in self.members if m is not sender]


app = make_app(OthersOnly())
