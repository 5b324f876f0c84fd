"""The correct room every broken room changes: ``/ws/{client_id}`` (an integer) answers the
sender ``You wrote: {message}``, sends ``Client #{client_id} says: {message}`` to every
connected client (the sender included) and ``Client #{client_id} left the chat`` to those
that remain when one leaves. Written in the style of FastAPI's tutorial003, not copied from
it; it passes every ``[broadcast]`` check of ``examples/fastapi_docs_chat.toml``. Unlike the
tutorial, a send that fails (the member vanished, and its own endpoint has not seen it yet)
takes that member out and announces it, instead of failing the sender's conversation; its
endpoint then finds it gone and says nothing more."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect


class Room:
    """Who is connected, in the order they came, and what the room sends them."""

    def __init__(self) -> None:
        self.members: list[WebSocket] = []
        #: Each connection's client id, for the notice when a send finds it gone.
        self.names: dict[WebSocket, int] = {}

    async def enter(self, websocket: WebSocket, who: int) -> None:
        await websocket.accept()
        self.members.append(websocket)

    def forget(self, websocket: WebSocket) -> None:
        if websocket in self.members:
            self.members.remove(websocket)

    def audience(self, sender: WebSocket) -> list[WebSocket]:
        return list(self.members)

    async def to_all(self, text: str, audience: list[WebSocket]) -> None:
        gone = [member for member in audience if not await self.deliver(member, text)]
        for member in gone:
            await self.left(member, self.names[member])

    async def deliver(self, member: WebSocket, text: str) -> bool:
        """Send ``text`` to ``member``; False when it turns out to have gone."""
        try:
            await member.send_text(text)
        except WebSocketDisconnect:
            return False
        return True

    async def said(self, websocket: WebSocket, who: int, data: str) -> None:
        await websocket.send_text(f"You wrote: {data}")
        await self.to_all(f"Client #{who} says: {data}", self.audience(websocket))

    async def left(self, websocket: WebSocket, who: int) -> None:
        if websocket not in self.members:
            return  # a failed send took it out, and announced it, already
        self.forget(websocket)
        await self.to_all(f"Client #{who} left the chat", list(self.members))


def make_app(room: Room) -> FastAPI:
    """A FastAPI app serving ``room`` at ``/ws/{client_id}``."""
    app = FastAPI()

    @app.websocket("/ws/{client_id}")
    async def chat(websocket: WebSocket, client_id: int) -> None:
        room.names[websocket] = client_id
        await room.enter(websocket, client_id)
        try:
            while True:
                data = await websocket.receive_text()
                await room.said(websocket, client_id, data)
        except WebSocketDisconnect:
            await room.left(websocket, client_id)

    return app


app = make_app(Room())
