"""Defect: every broadcast is delivered twice to each client (a retry that never checks
whether the first send went through)."""

from __future__ import annotations

from fastapi import WebSocket

from tests.broken_rooms.room import Room, make_app


class Twice(Room):
    async def to_all(self, text: str, audience: list[WebSocket]) -> None:
        for member in audience:
            await member.send_text(text)
            await member.send_text(text)


app = make_app(Twice())
