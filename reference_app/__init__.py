"""The reference app: the chat protocol of ``protocol.md``, implemented for any :class:`Spec`.

It exists so the kit has a known-good target: the bundled suite must pass against it, and a
person can open its chat page to see the protocol work. Every text it sends comes from the
spec it was built with, so ``create_app(spec)`` is also the quickest way to get a conforming
app for a *different* protocol (other paths, texts, bye word or credential names) — which is
how the kit's own tests check that the kit follows the spec rather than the defaults.

Choices the protocol leaves open, taken here:

* The guarded endpoint *accepts and then* closes with the denied code, instead of refusing
  the handshake, so that the code reaches every client, browsers included.
* Credentials are read by hand from the cookies and the query string rather than declared
  as FastAPI parameters: FastAPI's validation would refuse the handshake (HTTP 403) before
  the app could accept and send the close code.
* A ``q`` that is not canonical decimal is accepted when it is ASCII and Python's ``int()``
  takes it (``+5``, ``" 5"``, ``05``, ``1_000`` give 5, 5, 5, 1000) and is refused like
  missing credentials otherwise (``5.0``, an empty ``q=``, ``abc``, non-ASCII digits).
* When the client goes away, at any point, the conversation simply ends: nothing is raised
  and nothing is logged.
* A message larger than ``max_message_size`` (1 MiB by default, counted in bytes on the wire:
  UTF-8 for text) gets a close with 1009 (message too big) instead of a reply. ``serve()``
  gives uvicorn a frame limit of twice that, so that the app itself answers messages just
  over the limit; uvicorn closes with 1009 itself beyond.
* ``serve()`` redacts credentials from uvicorn's logs (see :mod:`reference_app.redaction`): the
  query string of every logged path (it may carry the token), the values of ``Cookie`` and
  ``Authorization`` headers and the payloads of data frames (a reply repeats the
  credential), which websockets logs at DEBUG. The app itself logs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from reference_app.redaction import redact_credentials_in_logs
from wscheck.core.spec import AuthSpec, BroadcastSpec, EchoSpec, Spec

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MESSAGE_TOO_BIG",
    "app",
    "create_app",
    "parse_q",
    "serve",
    "uvicorn_config",
]

#: The largest message the reference app answers, in bytes on the wire (UTF-8 for text).
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
#: The close code for a message over the limit (RFC 6455 §7.4.1: message too big).
MESSAGE_TOO_BIG = 1009

_Endpoint = Callable[[WebSocket], Awaitable[None]]

_PAGE_TEMPLATE = "chat.html"
#: Replaced by the page's JSON configuration, which the page reads from a non-executed
#: ``<script type="application/json">`` element.
_CONFIG_MARK = "__WSCHECK_PAGE_CONFIG__"


class _ClientGone(Exception):
    """The client closed or dropped the connection; the conversation ends quietly."""


async def _receive(websocket: WebSocket) -> str | bytes:
    """The next message as ``str`` or ``bytes``; raises :class:`_ClientGone` on disconnect.

    The raw ASGI message is inspected (rather than ``receive_text``) so that a binary frame
    and a disconnect are told apart precisely instead of surfacing as a ``KeyError``.
    """
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise _ClientGone
    text = message.get("text")
    if text is not None:
        return str(text)
    data = message.get("bytes")
    return bytes(data) if data is not None else b""


async def _send(websocket: WebSocket, text: str) -> None:
    """Send a text message; a client that has vanished ends the conversation quietly."""
    try:
        await websocket.send_text(text)
        # Yield to the event loop after every reply. Without it, a client that pipelines many
        # messages keeps this task busy (queued messages and an idle socket never block), so
        # other connections starve and the server cannot notice a dropped connection: uvicorn
        # keeps writing into the dead transport and asyncio logs "socket.send() raised
        # exception." warnings.
        await asyncio.sleep(0)
    except (WebSocketDisconnect, OSError) as exc:
        # Starlette turns a failed send into WebSocketDisconnect; other servers or versions
        # may let the transport's OSError through. Either way the client is gone.
        raise _ClientGone from exc


async def _close(websocket: WebSocket, code: int) -> None:
    """Close with ``code``; a client that left first is not an error."""
    try:
        await websocket.close(code)
    except (WebSocketDisconnect, OSError) as exc:
        raise _ClientGone from exc


def _too_big(message: str | bytes, limit: int) -> bool:
    """Whether ``message`` is over ``limit`` bytes on the wire, without encoding it when the
    character count already decides (a character is one to four bytes in UTF-8)."""
    if isinstance(message, bytes) or len(message) > limit:
        return len(message) > limit
    if len(message) * 4 <= limit:
        return False
    return len(message.encode("utf-8", "surrogatepass")) > limit


async def _refuse_too_big(websocket: WebSocket, limit: int) -> None:
    try:
        await websocket.close(MESSAGE_TOO_BIG, f"message larger than {limit} bytes")
    except (WebSocketDisconnect, OSError) as exc:
        raise _ClientGone from exc


def _path_params(
    declared: tuple[tuple[str, str], ...], websocket: WebSocket
) -> tuple[tuple[str, str], ...]:
    """The spec's path parameters with this request's actual values, for the templates.

    A reply such as ``..., for item ID: {item_id}`` must show the id the client asked for,
    not the example value the spec carries.
    """
    values = dict(declared) | {k: str(v) for k, v in websocket.path_params.items()}
    return tuple(values.items())


def parse_q(raw: str) -> int | None:
    """The integer a ``q`` query value stands for, or ``None`` when it is refused.

    Canonical decimal (``0``, ``-12``) is what the protocol requires; the looser spellings
    Python's ``int()`` takes are accepted too when ASCII, as FastAPI's tutorial would be
    lenient with them. Non-ASCII digits are refused: no client means them as numbers.
    """
    if not raw.isascii():
        return None
    try:
        return int(raw)
    except ValueError:  # includes the digit limit of int() for huge strings
        return None


def _echo_endpoint(echo: EchoSpec, max_message_size: int) -> _Endpoint:
    """The echo endpoint for ``echo`` (``protocol.md``, "WebSocket /ws")."""

    async def echo_endpoint(websocket: WebSocket) -> None:
        section = dataclasses.replace(
            echo, path_params=_path_params(echo.path_params, websocket)
        )
        await websocket.accept()
        try:
            while True:
                message = await _receive(websocket)
                if _too_big(message, max_message_size):
                    await _refuse_too_big(websocket, max_message_size)
                    return
                if isinstance(message, bytes):
                    await _close(websocket, section.binary_close_code)
                    return
                if section.bye is not None and message == section.bye:
                    for farewell in section.farewells:
                        await _send(websocket, farewell)
                    await _close(websocket, section.bye_close_code)
                    return
                await _send(websocket, section.render_reply(message))
        except _ClientGone:
            return

    return echo_endpoint


def _auth_endpoint(auth: AuthSpec, max_message_size: int) -> _Endpoint:
    """The guarded endpoint for ``auth`` (``protocol.md``, "WebSocket /item/ws")."""

    async def auth_endpoint(websocket: WebSocket) -> None:
        section = dataclasses.replace(
            auth, path_params=_path_params(auth.path_params, websocket)
        )
        cookie = websocket.cookies.get(section.cookie)
        token = websocket.query_params.get(section.token)
        raw_q = websocket.query_params.get(section.q)
        q = None if raw_q is None else parse_q(raw_q)
        # Accept first, even to refuse: a close before accept reaches a network client as an
        # HTTP 403 and the close code is lost.
        await websocket.accept()
        try:
            if (cookie is None and token is None) or (raw_q is not None and q is None):
                await _close(websocket, section.denied_close_code)
                return
            # Python's ``cookie or token``: an empty cookie falls through to the token.
            credential = cookie or token
            while True:
                message = await _receive(websocket)
                if _too_big(message, max_message_size):
                    await _refuse_too_big(websocket, max_message_size)
                    return
                if isinstance(message, bytes):
                    await _close(websocket, section.binary_close_code)
                    return
                await _send(websocket, section.render(section.credential_reply,
                                                      credential=credential))
                if raw_q is not None:
                    await _send(websocket, section.render(section.q_reply, q=q))
                await _send(websocket, section.render(section.message_reply,
                                                      message=message, q=q))
        except _ClientGone:
            return

    return auth_endpoint


class _Room:
    """The clients connected to a broadcast endpoint, in the order they joined.

    One lock orders every change of membership with the messages it causes, so that each
    connection receives its texts in the order the steps happened: the sender's reply before
    its copy of the broadcast, a join notice before anything the newcomer says. A client that
    turns out to be gone while being sent to is taken out of the room (and announced) instead
    of failing the sender.
    """

    def __init__(self, spec: BroadcastSpec) -> None:
        self.spec = spec
        self.members: dict[WebSocket, str] = {}
        self.lock = asyncio.Lock()

    async def _deliver(self, websocket: WebSocket, text: str) -> bool:
        try:
            await _send(websocket, text)
        except _ClientGone:
            return False
        return True

    async def _to(self, text: str, *, but: WebSocket | None = None) -> None:
        gone = [ws for ws in list(self.members)
                if ws is not but and not await self._deliver(ws, text)]
        for ws in gone:
            await self._remove(ws)

    async def _remove(self, websocket: WebSocket) -> None:
        name = self.members.pop(websocket, None)
        if name is not None and self.spec.leave_notice is not None:
            await self._to(self.spec.render(self.spec.leave_notice, name))

    async def join(self, websocket: WebSocket, name: str) -> None:
        async with self.lock:
            if self.spec.join_notice is not None:
                await self._to(self.spec.render(self.spec.join_notice, name))
            self.members[websocket] = name

    async def say(self, websocket: WebSocket, text: str) -> None:
        async with self.lock:
            name = self.members.get(websocket)
            if name is None:
                return  # taken out while sending to it: it has left
            if self.spec.reply is not None and \
                    not await self._deliver(websocket, self.spec.render(self.spec.reply, name,
                                                                        text)):
                await self._remove(websocket)
                return
            said = self.spec.render(self.spec.broadcast, name, text)
            await self._to(said, but=None if self.spec.to == "everyone" else websocket)

    async def leave(self, websocket: WebSocket) -> None:
        async with self.lock:
            await self._remove(websocket)


def _broadcast_endpoint(room_spec: BroadcastSpec, max_message_size: int) -> _Endpoint:
    """The broadcast room for ``room_spec``: every client of the endpoint is in one room
    (other path parameters are rendered with the spec's values); binary → 1003."""
    room = _Room(room_spec)

    async def broadcast_endpoint(websocket: WebSocket) -> None:
        name = str(websocket.path_params.get(room_spec.client_param, ""))
        await websocket.accept()
        await room.join(websocket, name)
        try:
            while True:
                message = await _receive(websocket)
                if _too_big(message, max_message_size):
                    await _refuse_too_big(websocket, max_message_size)
                    return
                if isinstance(message, bytes):
                    await _close(websocket, 1003)
                    return
                await room.say(websocket, message)
        except _ClientGone:
            return
        finally:
            await room.leave(websocket)

    return broadcast_endpoint


def _page(spec: Spec) -> str:
    """The chat page, configured with this spec's echo path (or none)."""
    template = resources.files(__name__).joinpath(_PAGE_TEMPLATE).read_text(encoding="utf-8")
    config = {"echoPath": spec.echo.url_path() if spec.echo is not None else None}
    # "<" escaped so that no value can end the <script> element the JSON sits in.
    payload = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    return template.replace(_CONFIG_MARK, payload)


def create_app(spec: Spec | None = None, *,
               max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> FastAPI:
    """A FastAPI app speaking ``spec`` (default: the reference protocol, ``Spec()``).

    An endpoint whose section is ``None`` is not mounted at all. ``GET /`` always serves
    the chat page, which talks to the echo endpoint when there is one. A message over
    ``max_message_size`` bytes gets a close with 1009 (kept in ``app.state``, where
    :func:`uvicorn_config` reads it).
    """
    if isinstance(max_message_size, bool) or not isinstance(max_message_size, int) \
            or max_message_size < 1:
        raise ValueError(f"max_message_size must be a positive number of bytes, "
                         f"got {max_message_size!r}")
    spec = spec if spec is not None else Spec()
    application = FastAPI(title="wscheck reference app", docs_url=None, redoc_url=None,
                          openapi_url=None)
    application.state.max_message_size = max_message_size
    page = _page(spec)

    async def chat_page() -> HTMLResponse:
        return HTMLResponse(page)

    application.add_api_route("/", chat_page, methods=["GET"], include_in_schema=False)
    if spec.echo is not None:
        application.add_api_websocket_route(
            spec.echo.path, _echo_endpoint(spec.echo, max_message_size))
    if spec.auth is not None:
        application.add_api_websocket_route(
            spec.auth.path, _auth_endpoint(spec.auth, max_message_size))
    if spec.broadcast is not None:
        application.add_api_websocket_route(
            spec.broadcast.path, _broadcast_endpoint(spec.broadcast, max_message_size))
    return application


# --- serving -----------------------------------------------------------------------------

def uvicorn_config(spec: Spec | None = None, host: str = "127.0.0.1", port: int = 8000, *,
                   max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                   **options: Any) -> uvicorn.Config:
    """The uvicorn configuration :func:`serve` runs: the app for ``spec``, a frame limit
    twice ``max_message_size`` (so that the app, not uvicorn, answers a message just over
    the limit), and credentials redacted from the logs. ``options`` go to ``uvicorn.Config``.
    """
    import uvicorn  # imported here: the app itself does not need a server to be built

    application = create_app(spec, max_message_size=max_message_size)
    options.setdefault("ws_max_size", 2 * max_message_size)
    if options["ws_max_size"] <= max_message_size:
        raise ValueError(f"ws_max_size ({options['ws_max_size']}) must be larger than "
                         f"max_message_size ({max_message_size}), or uvicorn answers "
                         "instead of the app")
    config = uvicorn.Config(application, host=host, port=port, **options)
    redact_credentials_in_logs()
    return config


def serve(host: str = "127.0.0.1", port: int = 8000, spec: Spec | None = None, *,
          max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
    """Serve the reference app with uvicorn until interrupted, saying where to open it.

    Used by ``python -m reference_app`` and ``wscheck serve``.
    """
    import uvicorn

    config = uvicorn_config(spec, host, port, max_message_size=max_message_size)
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    print(f"wscheck reference app: open http://{shown}:{port}/ in a browser", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the server, as uvicorn.run
        uvicorn.Server(config).run()


app = create_app()
