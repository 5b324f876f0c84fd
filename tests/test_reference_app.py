"""The reference app over a real socket: uvicorn on a loopback port, the `websockets` client.

Expected texts are written out literally from ``protocol.md`` rather than taken from the Spec,
so a wrong default in the Spec fails here too. Every wait is bounded (``asyncio.wait_for``
rather than ``asyncio.timeout``, which Python 3.10 lacks).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import reference_app
from reference_app import create_app, parse_q
from reference_app.__main__ import main as reference_main
from tests.servers import LiveServer, SessionRecorder, capture_logs, free_port, serve_uvicorn
from wscheck.core.spec import AuthSpec, EchoSpec, Spec

TIMEOUT = 5.0  # any single wait
QUIET = 0.3  # how long "nothing arrives" is watched for

ECHO_PREFIX = "接收到的消息是:"
FAREWELLS = ["请注意:窗口即将关闭", "窗口已关闭"]
CREDENTIAL = "Session cookie or query token value is: {}"
Q_REPLY = "parameter q is: {}"
MESSAGE_REPLY = "Message text was: {}, for : {}"

REPO = Path(__file__).resolve().parent.parent


# --- client helpers -----------------------------------------------------------------------


@asynccontextmanager
async def ws_connect(
    url: str, cookie: str | None = None, query: Mapping[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    """Open a client connection (handshake bounded); ``cookie`` is a raw Cookie header."""
    if query is not None:
        url = f"{url}?{urlencode(query)}"
    headers = {"Cookie": cookie} if cookie is not None else None
    async with connect(url, additional_headers=headers, open_timeout=TIMEOUT,
                       close_timeout=TIMEOUT, max_size=2**22, max_queue=None) as ws:
        yield ws


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for ``condition``, which another thread makes true."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def recv_text(ws: ClientConnection) -> str:
    message = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(message, str), f"expected a text message, got {message!r}"
    return message


async def recv_n(ws: ClientConnection, n: int) -> list[str]:
    return [await recv_text(ws) for _ in range(n)]


async def assert_silent(ws: ClientConnection, seconds: float = QUIET) -> None:
    """Nothing arrives (and the connection stays open) for ``seconds``."""
    try:
        message = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    pytest.fail(f"unsolicited message from the server: {message!r}")


async def server_close_code(ws: ClientConnection) -> int:
    """The code the server closes with; fails if any message arrives before the close."""
    try:
        message = await asyncio.wait_for(ws.recv(), TIMEOUT)
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, f"connection ended without a close frame: {exc}"
        return exc.rcvd.code
    pytest.fail(f"expected the server to close, but it sent {message!r}")


# --- GET / -------------------------------------------------------------------------------


def test_page_is_html(reference_server: LiveServer) -> None:
    response = httpx.get(reference_server.http("/"), timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for element_id in ("messageText", "send", "messages", "status"):
        assert f'id="{element_id}"' in page


def test_page_uses_its_own_host_and_scheme(reference_server: LiveServer) -> None:
    page = httpx.get(reference_server.http("/"), timeout=TIMEOUT).text
    port = reference_server.address.rsplit(":", 1)[1]
    for hard_coded in ("localhost", "127.0.0.1", "ws://", "wss://", ":8000", port):
        assert hard_coded not in page, f"page hard-codes {hard_coded!r}"
    assert "window.location.host" in page
    assert '"echoPath": "/ws"' in page
    assert "innerHTML" not in page


# --- /ws: echo -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_echo_exact_text(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await ws.send("hello")
        assert await recv_text(ws) == "接收到的消息是:hello"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "message",
    [
        "",
        " ",
        "  leading and trailing  ",
        "line one\nline two\r\n\ttab",
        "Grüße, 世界! Привет, مرحبا, שלום, नमस्ते 👋🏽👨‍👩‍👧 𝄞",
        "<b>not html</b> & {braces} {message} %s",
        "\x00\x1f control",
    ],
    ids=["empty", "space", "padded", "newlines", "scripts-emoji", "markup-braces", "control"],
)
async def test_echo_unchanged(reference_server: LiveServer, message: str) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await ws.send(message)
        assert await recv_text(ws) == ECHO_PREFIX + message


@pytest.mark.asyncio
async def test_echo_64_kib(reference_server: LiveServer) -> None:
    message = ("a漢😀é" * 20_000)[: 64 * 1024 + 7]
    assert len(message.encode()) > 64 * 1024
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await ws.send(message)
        assert await recv_text(ws) == ECHO_PREFIX + message


@pytest.mark.asyncio
async def test_pipelined_messages_answered_in_order(reference_server: LiveServer) -> None:
    messages = [f"message {i}" for i in range(200)]
    async with ws_connect(reference_server.ws("/ws")) as ws:
        for message in messages:
            await ws.send(message)
        assert await recv_n(ws, len(messages)) == [ECHO_PREFIX + m for m in messages]
        await assert_silent(ws)


@pytest.mark.asyncio
async def test_nothing_unsolicited(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await assert_silent(ws)
        await ws.send("one")
        assert await recv_text(ws) == ECHO_PREFIX + "one"
        await assert_silent(ws)
        await ws.send("two")  # still open after the silence
        assert await recv_text(ws) == ECHO_PREFIX + "two"


@pytest.mark.asyncio
@pytest.mark.parametrize("message", ["Bye", " bye", "bye ", "bye\n", "BYE", "goodbye", "bye bye"])
async def test_near_bye_is_echoed(reference_server: LiveServer, message: str) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await ws.send(message)
        assert await recv_text(ws) == ECHO_PREFIX + message
        await assert_silent(ws)


@pytest.mark.asyncio
async def test_bye_farewells_then_close_1000(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await ws.send("bye")
        assert await recv_n(ws, 2) == ["请注意:窗口即将关闭", "窗口已关闭"]
        assert await server_close_code(ws) == 1000


@pytest.mark.asyncio
async def test_bye_in_the_middle_of_a_conversation(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        for message in ("first", "second", "bye", "never answered"):
            await ws.send(message)
        assert await recv_n(ws, 4) == [ECHO_PREFIX + "first", ECHO_PREFIX + "second",
                                       *FAREWELLS]
        assert await server_close_code(ws) == 1000


@pytest.mark.asyncio
async def test_concurrent_clients_are_isolated(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/ws")) as a, \
            ws_connect(reference_server.ws("/ws")) as b:
        for i in range(20):
            await a.send(f"a{i}")
            await b.send(f"b{i}")
        got_a, got_b = await asyncio.gather(recv_n(a, 20), recv_n(b, 20))
        assert got_a == [f"{ECHO_PREFIX}a{i}" for i in range(20)]
        assert got_b == [f"{ECHO_PREFIX}b{i}" for i in range(20)]
        await b.send("bye")
        assert await recv_n(b, 2) == FAREWELLS
        assert await server_close_code(b) == 1000
        await assert_silent(a)  # b's farewell and close never reach a
        await a.send("still here")
        assert await recv_text(a) == ECHO_PREFIX + "still here"


@pytest.mark.asyncio
async def test_binary_closes_1003_on_echo(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/ws")) as ws:
        await ws.send("text first")
        assert await recv_text(ws) == ECHO_PREFIX + "text first"
        await ws.send(b"\x00\x01binary")
        assert await server_close_code(ws) == 1003


# --- /item/ws: credentials -----------------------------------------------------------------


async def item_replies(
    server: LiveServer, message: str = "hi", cookie: str | None = None,
    query: Mapping[str, str] | None = None,
) -> list[str]:
    """Send one message to /item/ws and collect the replies until the server is silent."""
    async with ws_connect(server.ws("/item/ws"), cookie=cookie, query=query) as ws:
        await ws.send(message)
        replies = [await recv_text(ws)]
        while True:
            try:
                reply = await asyncio.wait_for(ws.recv(), QUIET)
            except asyncio.TimeoutError:
                return replies
            assert isinstance(reply, str)
            replies.append(reply)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("cookie", "query", "credential"),
    [
        ("session=abc", {}, "abc"),
        (None, {"token": "tok"}, "tok"),
        ("session=abc", {"token": "tok"}, "abc"),  # the cookie wins
        ("session=", {"token": "tok"}, "tok"),  # an empty cookie falls through to the token
        ("session=", {}, "None"),  # an empty cookie counts as present; no token: None
        (None, {"token": ""}, ""),  # an empty token counts as present
        ("other=1; session=xyz", {}, "xyz"),
    ],
    ids=["cookie", "token", "cookie-wins", "empty-cookie-token", "empty-cookie-alone",
         "empty-token", "several-cookies"],
)
async def test_credentials(
    reference_server: LiveServer, cookie: str | None, query: dict[str, str], credential: str
) -> None:
    replies = await item_replies(reference_server, "hi", cookie=cookie, query=query)
    assert replies == [
        f"Session cookie or query token value is: {credential}",
        "Message text was: hi, for : None",
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("q", ["5", "-3", "0", "123456789012345678901234567890"])
async def test_q_canonical(reference_server: LiveServer, q: str) -> None:
    replies = await item_replies(reference_server, "hi", query={"token": "t", "q": q})
    assert replies == [
        "Session cookie or query token value is: t",
        f"parameter q is: {q}",
        f"Message text was: hi, for : {q}",
    ]


@pytest.mark.asyncio
async def test_every_message_gets_its_replies_in_order(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/item/ws"), cookie="session=s",
                          query={"q": "7"}) as ws:
        for message in ("one", "bye", "three"):  # bye is ordinary here
            await ws.send(message)
        replies = await recv_n(ws, 9)
        await assert_silent(ws)
        await ws.send("still open")
        assert await recv_n(ws, 3) == [CREDENTIAL.format("s"), Q_REPLY.format(7),
                                       MESSAGE_REPLY.format("still open", 7)]
    expected: list[str] = []
    for message in ("one", "bye", "three"):
        expected += [CREDENTIAL.format("s"), Q_REPLY.format(7), MESSAGE_REPLY.format(message, 7)]
    assert replies == expected


@pytest.mark.asyncio
async def test_bye_is_ordinary_on_item(reference_server: LiveServer) -> None:
    replies = await item_replies(reference_server, "bye", cookie="session=s")
    assert replies == ["Session cookie or query token value is: s",
                       "Message text was: bye, for : None"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("cookie", "query"),
    [
        (None, {}),
        (None, {"q": "5"}),
        ("other=1", {"tok": "x", "session": "y"}),  # wrong names are no credentials
        (None, {"token": "t", "q": "abc"}),  # q with no digit at all
        ("session=s", {"q": "x"}),
    ],
    ids=["nothing", "q-only", "wrong-names", "token-q-abc", "cookie-q-x"],
)
async def test_refused_with_1008_after_accept(
    reference_server: LiveServer, cookie: str | None, query: dict[str, str]
) -> None:
    # The handshake succeeds (ws_connect would raise InvalidStatus on a 403 refusal) ...
    async with ws_connect(reference_server.ws("/item/ws"), cookie=cookie, query=query) as ws:
        # ... and the close arrives with no message before it, without the client sending.
        assert await server_close_code(ws) == 1008


@pytest.mark.asyncio
async def test_binary_closes_1003_on_item(reference_server: LiveServer) -> None:
    async with ws_connect(reference_server.ws("/item/ws"), query={"token": "t"}) as ws:
        await ws.send(b"\xff")
        assert await server_close_code(ws) == 1003


# Spellings protocol.md leaves to the implementation: the reference app takes what Python's
# int() takes in ASCII, and refuses the rest like missing credentials.
@pytest.mark.parametrize(
    ("raw", "value"),
    [("+5", 5), (" 5", 5), ("05", 5), ("1_000", 1000), ("-0", 0),
     ("5.0", None), ("", None), ("abc", None), ("٥", None), ("1" * 5000, None)],
)
def test_parse_q_non_canonical(raw: str, value: int | None) -> None:
    assert parse_q(raw) == value


@pytest.mark.asyncio
@pytest.mark.parametrize(("q", "shown"), [("+5", "5"), ("05", "5"), (" 5", "5"),
                                          ("1_000", "1000")])
async def test_q_lenient_spellings_are_accepted(
    reference_server: LiveServer, q: str, shown: str
) -> None:
    replies = await item_replies(reference_server, "m", query={"token": "t", "q": q})
    assert replies[1:] == [f"parameter q is: {shown}", f"Message text was: m, for : {shown}"]


@pytest.mark.asyncio
@pytest.mark.parametrize("q", ["5.0", ""])
async def test_q_unparseable_spellings_are_refused(reference_server: LiveServer, q: str) -> None:
    async with ws_connect(reference_server.ws("/item/ws"), query={"token": "t", "q": q}) as ws:
        assert await server_close_code(ws) == 1008


# --- the client going away -----------------------------------------------------------------


class Tracked(SessionRecorder):
    """The session recorder, waited on from an async test."""

    async def wait_ended(self, count: int = 1) -> list[BaseException | None]:
        await until(lambda: len(self.ended) >= count, "the app's session to end")
        return self.ended


@contextmanager
def tracked_server(app: Any, ws_impl: str) -> Iterator[tuple[Tracked, LiveServer]]:
    tracked = Tracked(app)
    with capture_logs() as records, serve_uvicorn(tracked, ws=ws_impl) as address:
        yield tracked, LiveServer(address, records)


# Every WebSocket implementation uvicorn offers: each notices a vanished client differently.
WS_IMPLS = [
    "websockets-sansio",
    pytest.param("websockets", marks=[  # deprecated by uvicorn, still its most used one
        pytest.mark.filterwarnings("ignore::DeprecationWarning"),
        pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
    ]),
    "wsproto",
]


def _drop(ws: ClientConnection) -> None:
    """Drop the TCP connection: no close frame, no FIN handshake, just gone."""
    ws.transport.abort()


async def _drop_after_connect(server: LiveServer) -> None:
    async with ws_connect(server.ws("/ws")) as ws:
        _drop(ws)


async def _drop_mid_conversation(server: LiveServer) -> None:
    async with ws_connect(server.ws("/ws")) as ws:
        await ws.send("one")
        await recv_text(ws)
        for i in range(300):  # the server is still answering these when the client vanishes
            await ws.send(f"pipelined {i} " + "x" * 1000)
        _drop(ws)


async def _drop_during_bye(server: LiveServer) -> None:
    async with ws_connect(server.ws("/ws")) as ws:
        await ws.send("bye")
        _drop(ws)


async def _close_mid_stream(server: LiveServer) -> None:
    async with ws_connect(server.ws("/ws")) as ws:
        for i in range(300):
            await ws.send(f"pipelined {i} " + "x" * 1000)
        await ws.close()


async def _drop_item_mid_conversation(server: LiveServer) -> None:
    async with ws_connect(server.ws("/item/ws"), cookie="session=s", query={"q": "1"}) as ws:
        await ws.send("one")
        await recv_n(ws, 3)
        for i in range(300):
            await ws.send(f"pipelined {i} " + "x" * 1000)
        _drop(ws)


async def _close_item_mid_stream(server: LiveServer) -> None:
    async with ws_connect(server.ws("/item/ws"), query={"token": "t"}) as ws:
        for i in range(300):
            await ws.send(f"pipelined {i} " + "x" * 1000)
        await ws.close()


async def _drop_item_denied(server: LiveServer) -> None:
    async with ws_connect(server.ws("/item/ws")) as ws:
        _drop(ws)


GOING_AWAY: dict[str, Callable[[LiveServer], Awaitable[None]]] = {
    "drop-after-connect": _drop_after_connect,
    "drop-mid-conversation": _drop_mid_conversation,
    "drop-during-bye": _drop_during_bye,
    "close-mid-stream": _close_mid_stream,
    "item-drop-mid-conversation": _drop_item_mid_conversation,
    "item-close-mid-stream": _close_item_mid_stream,
    "item-drop-while-denied": _drop_item_denied,
}


@pytest.mark.asyncio
@pytest.mark.parametrize("ws_impl", WS_IMPLS)
@pytest.mark.parametrize("scenario", list(GOING_AWAY))
async def test_client_going_away_is_quiet(scenario: str, ws_impl: str) -> None:
    with tracked_server(create_app(), ws_impl) as (tracked, server):
        await GOING_AWAY[scenario](server)
        ended = await tracked.wait_ended()
        assert ended == [None], f"the app raised: {ended[0]!r}"
        assert [r.getMessage() for r in server.records] == []


def _crashing_app() -> FastAPI:
    application = FastAPI()

    @application.websocket("/ws")
    async def crash(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        raise RuntimeError("deliberate crash")

    return application


@pytest.mark.asyncio
@pytest.mark.parametrize("ws_impl", WS_IMPLS)
async def test_log_capture_sees_a_crash(ws_impl: str) -> None:
    """The quiet-end assertions above can fail: an app that crashes is seen and logged."""
    with tracked_server(_crashing_app(), ws_impl) as (tracked, server):
        async with ws_connect(server.ws("/ws")) as ws:
            await ws.send("boom")
            with pytest.raises(ConnectionClosed):  # with or without a close frame
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        ended = await tracked.wait_ended()
        assert isinstance(ended[0], RuntimeError)
        await until(lambda: bool(server.records), "the crash to be logged")
        assert any(r.levelname == "ERROR" for r in server.records)


# --- other specs ---------------------------------------------------------------------------

# FastAPI's own documentation tutorial, as a spec.
FASTAPI_DOCS = Spec(
    echo=EchoSpec(path="/ws", reply="Message text was: {message}", bye=None, farewells=()),
    auth=AuthSpec(
        path="/items/{item_id}/ws",
        q_reply="Query parameter q is: {q}",
        message_reply="Message text was: {message}, for item ID: {item_id}",
        path_params=(("item_id", "foo"),),
    ),
)

CUSTOM = Spec(
    echo=EchoSpec(path="/chat/{room}", reply="[{room}] {message}", bye="quit",
                  farewells=("so long", "and thanks", "for all the fish"),
                  bye_close_code=4000, binary_close_code=4003,
                  path_params=(("room", "lobby"),)),
    auth=AuthSpec(path="/private", cookie="sid", token="key", q="n",
                  credential_reply="cred={credential}", q_reply="n={q}",
                  message_reply="{message}|{q}", denied_close_code=4008,
                  binary_close_code=4004),
)


@pytest.fixture
def docs_server() -> Iterator[LiveServer]:
    with capture_logs() as records, serve_uvicorn(create_app(FASTAPI_DOCS)) as address:
        yield LiveServer(address, records)


@pytest.fixture
def custom_server() -> Iterator[LiveServer]:
    with capture_logs() as records, serve_uvicorn(create_app(CUSTOM)) as address:
        yield LiveServer(address, records)


@pytest.mark.asyncio
async def test_docs_spec_echo_without_bye(docs_server: LiveServer) -> None:
    async with ws_connect(docs_server.ws("/ws")) as ws:
        await ws.send("bye")
        assert await recv_text(ws) == "Message text was: bye"
        await assert_silent(ws)
        await ws.send("again")
        assert await recv_text(ws) == "Message text was: again"


@pytest.mark.asyncio
async def test_docs_spec_path_parameter(docs_server: LiveServer) -> None:
    async with ws_connect(docs_server.ws("/items/abc-42/ws"), query={"token": "t", "q": "3"}
                          ) as ws:
        await ws.send("hi")
        assert await recv_n(ws, 3) == [
            "Session cookie or query token value is: t",
            "Query parameter q is: 3",
            "Message text was: hi, for item ID: abc-42",
        ]
    async with ws_connect(docs_server.ws("/items/other/ws"), cookie="session=c") as ws:
        await ws.send("yo")
        assert await recv_n(ws, 2) == ["Session cookie or query token value is: c",
                                       "Message text was: yo, for item ID: other"]
    async with ws_connect(docs_server.ws("/items/x/ws")) as ws:
        assert await server_close_code(ws) == 1008
    with pytest.raises(InvalidStatus):  # the reference path does not exist in this spec
        async with ws_connect(docs_server.ws("/item/ws"), query={"token": "t"}):
            pass


@pytest.mark.asyncio
async def test_custom_spec_echo(custom_server: LiveServer) -> None:
    async with ws_connect(custom_server.ws("/chat/kitchen")) as ws:
        for message in ("hello", "bye", "quit "):
            await ws.send(message)
        assert await recv_n(ws, 3) == ["[kitchen] hello", "[kitchen] bye", "[kitchen] quit "]
        await ws.send("quit")
        assert await recv_n(ws, 3) == ["so long", "and thanks", "for all the fish"]
        assert await server_close_code(ws) == 4000
    async with ws_connect(custom_server.ws("/chat/x")) as ws:
        await ws.send(b"bin")
        assert await server_close_code(ws) == 4003
    with pytest.raises(InvalidStatus):
        async with ws_connect(custom_server.ws("/ws")):
            pass


@pytest.mark.asyncio
async def test_custom_spec_auth(custom_server: LiveServer) -> None:
    async with ws_connect(custom_server.ws("/private"), cookie="sid=", query={"key": "k",
                                                                              "n": "-2"}) as ws:
        await ws.send("m")
        assert await recv_n(ws, 3) == ["cred=k", "n=-2", "m|-2"]
    async with ws_connect(custom_server.ws("/private"), query={"key": "k"}) as ws:
        await ws.send("m")
        assert await recv_n(ws, 2) == ["cred=k", "m|None"]
        await ws.send(b"bin")
        assert await server_close_code(ws) == 4004
    # The reference protocol's names are not credentials under this spec.
    async with ws_connect(custom_server.ws("/private"), cookie="session=s",
                          query={"token": "t"}) as ws:
        assert await server_close_code(ws) == 4008
    async with ws_connect(custom_server.ws("/private"), query={"key": "k", "n": "z"}) as ws:
        assert await server_close_code(ws) == 4008


def test_custom_spec_page_uses_its_echo_path(custom_server: LiveServer) -> None:
    page = httpx.get(custom_server.http("/"), timeout=TIMEOUT).text
    assert '"echoPath": "/chat/lobby"' in page


@pytest.mark.asyncio
async def test_disabled_endpoints_are_not_routed() -> None:
    spec = Spec(echo=None, auth=None)
    with capture_logs(), serve_uvicorn(create_app(spec)) as address:
        for path in ("/ws", "/item/ws"):
            with pytest.raises(InvalidStatus):
                async with ws_connect(f"ws://{address}{path}", query={"token": "t"}):
                    pass
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            page = (await client.get(f"http://{address}/")).text
        assert '"echoPath": null' in page


def test_page_config_cannot_break_out_of_its_script() -> None:
    spec = Spec(echo=EchoSpec(path="/</script><script>alert(1)</script>"))
    page = reference_app._page(spec)
    assert "</script><script>alert(1)" not in page


def test_default_app_is_the_reference_spec() -> None:
    paths = {getattr(route, "path", None) for route in reference_app.app.routes}
    assert {"/", "/ws", "/item/ws"} <= paths


# --- python -m reference_app ----------------------------------------------------------------


def test_module_serves_on_the_given_port() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "reference_app", "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"server exited: {process.communicate()}"
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=TIMEOUT)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "python -m reference_app did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
    finally:
        process.terminate()
        try:
            out, _err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when shutdown hangs
            process.kill()
            out, _err = process.communicate()
    assert f"open http://127.0.0.1:{port}/ in a browser" in out


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http"])
def test_module_refuses_bad_ports(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        reference_main(["--port", port])
    assert exc_info.value.code == 2
    assert "--port" in capsys.readouterr().err
