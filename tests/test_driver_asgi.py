"""The in-process driver against raw ASGI apps that each do one allowed (or forbidden) thing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests import apps
from wscheck.core.events import (
    Accepted,
    AppCrashed,
    AppExited,
    Binary,
    Closed,
    ProtocolViolation,
    Refused,
    Silence,
    Text,
)
from wscheck.drivers.asgi import AsgiDriver, lifespan

pytestmark = pytest.mark.asyncio


async def test_close_without_code_or_reason_is_1000() -> None:
    driver = AsgiDriver(apps.close_without_code, timeout=5)
    conn = await driver.connect("/ws")
    assert conn.handshake == Accepted()
    await conn.send_text("hi")
    event = await conn.receive()
    assert event == Closed(1000)
    assert isinstance(event, Closed)
    assert event.reason == ""
    # Once ended, the final event is repeated and nothing is left over.
    assert await conn.receive() == Closed(1000)
    assert await conn.finish() is None


async def test_text_and_bytes() -> None:
    driver = AsgiDriver(apps.text_and_bytes, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_text("é")
    assert await conn.receive() == Text("text:é")
    assert await conn.receive() == Binary("é".encode() + b"\x00\xff")
    assert await conn.quiet() is None
    await conn.close()
    assert await conn.finish() is None


async def test_query_and_cookies_reach_the_scope() -> None:
    seen: dict[str, object] = {}

    async def app(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        seen.update(path=scope["path"], query=scope["query_string"],
                    headers=dict(scope["headers"]))
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    driver = AsgiDriver(app, timeout=5)
    conn = await driver.connect("/item/ws", [("token", "a b&c"), ("q", "")],
                                [("session", "s1"), ("other", "")])
    assert conn.handshake == Refused(close_code=1008)
    assert seen["path"] == "/item/ws"
    assert seen["query"] == b"token=a%20b%26c&q="
    assert seen["headers"][b"cookie"] == b"session=s1; other="  # type: ignore[index]


@pytest.mark.parametrize(("code", "seen"), [(1008, 1008), (4001, 4001), (None, 1000)])
async def test_close_before_accept_is_a_refusal_with_its_code(
    code: int | None, seen: int
) -> None:
    driver = AsgiDriver(apps.close_before_accept(code), timeout=5)
    conn = await driver.connect("/item/ws")
    assert conn.handshake == Refused(close_code=seen)
    assert await conn.receive() == Refused(close_code=seen)
    await conn.send_text("ignored")  # after the end: does nothing, raises nothing
    assert await conn.finish() is None


async def test_denial_response_is_a_refusal_with_its_status() -> None:
    driver = AsgiDriver(apps.denial_response, timeout=5)
    conn = await driver.connect("/ws")
    assert conn.handshake == Refused(status=401)
    assert await conn.finish() is None


async def test_app_exception_is_reported_with_its_name() -> None:
    driver = AsgiDriver(apps.crash_on_message, timeout=5)
    conn = await driver.connect("/ws")
    assert conn.handshake == Accepted()
    await conn.send_text("hi")
    assert await conn.receive() == AppCrashed("LookupError: no such chat room")


async def test_app_exception_during_the_handshake() -> None:
    driver = AsgiDriver(apps.crash_before_accept, timeout=5)
    conn = await driver.connect("/ws")
    assert conn.handshake == AppCrashed("ZeroDivisionError: division by zero")


async def test_send_before_accept_is_a_protocol_violation() -> None:
    driver = AsgiDriver(apps.send_before_accept, timeout=5)
    conn = await driver.connect("/ws")
    assert conn.handshake == ProtocolViolation(
        "the app sent 'websocket.send' before 'websocket.accept'")


async def test_send_after_close_is_reported_by_finish() -> None:
    driver = AsgiDriver(apps.send_after_close, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_text("hi")
    assert await conn.receive() == Closed(1000)
    late = await conn.finish()
    assert late == ProtocolViolation(
        "the app sent 'websocket.send' after the connection was closed")


async def test_a_violation_after_the_client_left_unanswered_is_reported_by_finish() -> None:
    """The client gave up on the handshake and left; the app then sends something that is no
    ASGI message. The client reads no more events, so finish() must say so (found by
    tests/test_fuzz_driver.py: the violation was raised into the app and reported nowhere)."""
    got: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        await receive()  # the client leaving
        try:
            await send(["not", "a", "message"])
        except Exception as exc:
            got.append(exc)

    driver = AsgiDriver(app, timeout=0.05, quiet_window=0.01)
    conn = await driver.connect("/ws")
    assert isinstance(conn.handshake, Silence)
    await conn.close()
    assert await conn.finish(5) == ProtocolViolation(
        "the app sent a list, not an ASGI message dict")
    assert len(got) == 1 and "ASGI protocol violation" in str(got[0])
    await driver.aclose()


async def test_return_without_closing() -> None:
    driver = AsgiDriver(apps.return_without_closing, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_text("hi")
    assert await conn.receive() == AppExited()


async def test_never_accepting_is_known_silence_at_once() -> None:
    driver = AsgiDriver(apps.never_accept, timeout=5)
    start = time.monotonic()
    conn = await driver.connect("/ws")
    assert time.monotonic() - start < 1
    assert conn.handshake == Silence()
    await conn.close()


async def test_accepted_and_silent_is_known_at_once() -> None:
    driver = AsgiDriver(apps.silent, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_text("anyone?")
    start = time.monotonic()
    event = await conn.receive()
    assert time.monotonic() - start < 1
    assert event == Silence()
    assert isinstance(event, Silence)
    assert event.seconds == 0  # known idle: not a wait that ran out
    assert await conn.quiet() is None
    assert time.monotonic() - start < 1
    await conn.close()
    assert await conn.finish() is None


async def test_silence_after_a_real_wait_says_how_long() -> None:
    driver = AsgiDriver(apps.busy_silent, timeout=5)  # a timer: nothing is *known* idle
    conn = await driver.connect("/ws")
    start = time.monotonic()
    event = await conn.receive(timeout=0.2)
    elapsed = time.monotonic() - start
    assert isinstance(event, Silence)
    assert event.seconds == 0.2
    assert 0.15 < elapsed < 2
    await driver.aclose()


async def test_slow_replies_are_waited_for() -> None:
    driver = AsgiDriver(apps.slow_echo, timeout=5)
    conn = await driver.connect("/ws")
    for i in range(3):
        await conn.send_text(f"m{i}")
        assert await conn.receive() == Text(f"m{i}")
    await conn.send_text("last")
    assert await conn.quiet() == Text("last")
    await conn.close()


async def test_pipelined_slow_replies_arrive_in_order() -> None:
    driver = AsgiDriver(apps.slow_echo, timeout=5)
    conn = await driver.connect("/ws")
    for i in range(4):
        await conn.send_text(f"p{i}")
    assert [await conn.receive() for _ in range(4)] == [Text(f"p{i}") for i in range(4)]
    await conn.close()


async def test_replies_on_their_way_through_io_are_waited_for() -> None:
    """A reply travelling through a socket (a broker round trip) while the handler waits in
    receive(): the app is not idle, so the wait must not end at once as silence."""
    driver = AsgiDriver(apps.broker_relay, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_text("hi")
    assert await conn.receive() == Text("relayed:hi")
    await conn.send_text("again")
    assert await conn.quiet() == Text("relayed:again")
    await conn.close()


async def test_unsolicited_message_from_a_background_task_is_seen_by_quiet() -> None:
    driver = AsgiDriver(apps.unsolicited_later, timeout=5)
    conn = await driver.connect("/ws")
    start = time.monotonic()
    assert await conn.quiet() == Text("unsolicited")
    assert 0.05 < time.monotonic() - start < 2
    await conn.close()


async def test_client_drop_delivers_1006_and_later_sends_raise_oserror() -> None:
    app = apps.DropRecorder()
    driver = AsgiDriver(app, timeout=5)
    conn = await driver.connect("/ws")
    await conn.drop()
    assert app.disconnect == {"type": "websocket.disconnect", "code": 1006}
    assert isinstance(app.send_error, OSError)
    assert await conn.finish() is None


async def test_client_close_delivers_its_code() -> None:
    app = apps.DropRecorder()
    driver = AsgiDriver(app, timeout=5)
    conn = await driver.connect("/ws")
    await conn.close(1001)
    assert app.disconnect == {"type": "websocket.disconnect", "code": 1001}
    assert isinstance(app.send_error, OSError)


async def test_aclose_cancels_running_apps() -> None:
    driver = AsgiDriver(apps.silent, timeout=5)
    conn = await driver.connect("/ws")
    assert conn.handshake == Accepted()
    start = time.monotonic()
    await driver.aclose()
    assert time.monotonic() - start < 1
    assert not driver._tasks


# --- lifespan --------------------------------------------------------------------------------


async def test_lifespan_startup_and_shutdown_and_state() -> None:
    app = apps.LifespanRecorder()
    async with lifespan(app) as wrapped:
        assert app.events == ["startup"]
        driver = AsgiDriver(wrapped, timeout=5)
        conn = await driver.connect("/ws")
        assert conn.handshake == Accepted()
        assert await conn.receive() == Text("hello from startup")
        await conn.close()
        assert await conn.finish() is None
    assert app.events == ["startup", "shutdown"]


async def test_app_without_lifespan_is_used_as_it_is_without_delay() -> None:
    start = time.monotonic()
    async with lifespan(apps.no_lifespan, timeout=5) as wrapped:
        assert time.monotonic() - start < 0.5
        assert wrapped is apps.no_lifespan
        driver = AsgiDriver(wrapped, timeout=5)
        conn = await driver.connect("/ws")
        assert await conn.receive() == Text("no lifespan here")
        await conn.close()
    assert time.monotonic() - start < 1


async def test_app_without_lifespan_leaves_no_exception_context() -> None:
    """The app is used inside the block: an error there must not read as if it happened
    while handling the lifespan refusal ("During handling of the above exception...")."""
    with pytest.raises(KeyError) as info:
        async with lifespan(apps.no_lifespan, timeout=5):
            raise KeyError("raised by the user of the app")
    assert info.value.__context__ is None


async def test_lifespan_startup_failure_propagates() -> None:
    with pytest.raises(ConnectionRefusedError, match="database unreachable"):
        async with lifespan(apps.failing_startup, timeout=5):
            pytest.fail("the block must not run when startup failed")


@pytest.mark.parametrize("size", [123, 124, 400])
async def test_a_close_reason_past_a_close_frame_is_kept_whole(size: int) -> None:
    """A reason no close frame can carry (over 123 bytes of UTF-8, RFC 6455 §5.5) is recorded
    as the app sent it, without a crash of the kit: the close's checks judge it."""
    from wscheck.checks.judging import unsendable_close
    from wscheck.core.events import MAX_CLOSE_REASON

    reason = "é" * (size // 2) + "x" * (size % 2)  # two-byte characters: size bytes

    async def app(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000, "reason": reason})

    driver = AsgiDriver(app, timeout=5)
    conn = await driver.connect("/ws")
    event = await conn.receive()
    assert isinstance(event, Closed)
    assert event == Closed(1000)
    assert event.reason == reason
    assert event.reason_size == size
    problem = unsendable_close(event)
    if size <= MAX_CLOSE_REASON:
        assert problem is None
    else:
        assert problem is not None and f"{size} bytes" in problem and "§5.5" in problem
    assert await conn.finish() is None


async def test_a_close_after_the_client_dropped_fails_as_behind_a_server() -> None:
    """uvicorn raises its ClientDisconnected (an OSError) from any send once the client has
    gone, a close included; Starlette turns it into WebSocketDisconnect. In-process the same:
    an app that lets it out of its close ends with an exception, one that catches it quietly."""
    raised: list[BaseException] = []

    async def app(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        assert message["type"] == "websocket.receive"
        assert (await receive())["type"] == "websocket.disconnect"
        try:
            await send({"type": "websocket.close", "code": 1003})
        except OSError as exc:
            raised.append(exc)
            raise

    driver = AsgiDriver(app, timeout=5)
    conn = await driver.connect("/ws")
    await conn.send_bytes(b"\x00")
    await conn.drop()
    late = await conn.finish()
    assert len(raised) == 1 and type(raised[0]).__name__ == "ClientDisconnected", raised
    assert isinstance(late, AppCrashed) and late.exception.startswith("ClientDisconnected")


async def test_the_client_may_leave_between_the_accept_and_the_apps_next_send() -> None:
    """Behind a server the 101 goes out while the app runs on: a client may drop before the
    close an app sends right after its accept (a refusal), and that close then fails."""
    outcome: list[str] = []

    async def app(scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send({"type": "websocket.close", "code": 1008})
            outcome.append("closed")
        except OSError:
            outcome.append("client gone")

    driver = AsgiDriver(app, timeout=5)
    conn = await driver.connect("/item/ws")
    assert conn.handshake == Accepted()
    await conn.drop()
    assert await conn.finish() is None
    assert outcome == ["client gone"]
    # A client that stays reads the close as before.
    conn = await driver.connect("/item/ws")
    assert await conn.receive() == Closed(1008)
    assert outcome == ["client gone", "closed"]


class _Relay:
    """A two-connection app: what a connection says is sent to the other (a tiny room), and
    each connection records what its ``receive()`` returned and in what order things
    happened, so that a test can tell when the app learnt a client had gone."""

    def __init__(self) -> None:
        self.sends: dict[str, apps.Send] = {}
        self.log: list[str] = []

    async def __call__(self, scope: apps.Scope, receive: apps.Receive, send: apps.Send) -> None:
        me = scope["path"].rsplit("/", 1)[-1]
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        self.sends[me] = send
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.log.append(f"{me} disconnect {message.get('code')}")
                return
            for other, to in list(self.sends.items()):
                if other != me:
                    try:
                        await to({"type": "websocket.send", "text": message["text"]})
                    except OSError as exc:
                        self.log.append(f"send to {other} failed: {type(exc).__name__}")


async def test_an_unnoticed_drop_is_told_to_the_app_only_after_a_send_to_it_failed() -> None:
    app = _Relay()
    driver = AsgiDriver(app, timeout=5)
    a, b = await driver.connect("/ws/a"), await driver.connect("/ws/b")
    await b.drop_unnoticed()
    # Known idle for a wait shorter than the grace, though b has gone: the app still waits
    # in b's receive().
    assert await a.quiet(0.5) is None and app.log == []
    await a.send_text("hi")
    assert await a.quiet(5) is None
    assert app.log == ["send to b failed: ClientDisconnected", "b disconnect 1006"]
    assert await b.finish() is None
    await a.close()
    await driver.aclose()


async def test_an_unnoticed_drop_is_told_after_the_grace_or_when_finish_waits() -> None:
    app = _Relay()
    driver = AsgiDriver(app, timeout=5)
    a, b = await driver.connect("/ws/a"), await driver.connect("/ws/b")
    start = time.monotonic()
    await a.drop_unnoticed(grace=0.05)
    # Nothing sends to a: the grace's timer is the app's pending work, which a wait longer
    # than it waits for (no instant silence while the app has yet to learn a has gone).
    assert await b.quiet(5) is None
    assert app.log == ["a disconnect 1006"]
    assert 0.05 <= time.monotonic() - start < 5
    await b.drop_unnoticed()  # the default grace (a second), cut short by finish()
    assert await b.finish() is None
    assert app.log == ["a disconnect 1006", "b disconnect 1006"]
    await driver.aclose()
