"""The kit against hostile and broken targets: a clear failing verdict, never a hang or a crash.

Every run goes through pytest the way a user runs it (``pytester``, in-process), with
``--wscheck-timeout 1``, and asserts three things: the exit status is 1 (a check failed, not
an internal error or a usage error), the output names the problem in words a user can act
on, and the whole run took bounded wall time. The bounds are generous on purpose (a loaded
CI machine must not make them flaky); what they catch is a run that waits out a timeout per
check, retries forever or hangs.

The check modules are imported before pytester snapshots ``sys.modules`` (see
``tests/test_plugin.py``). Servers run in the test process on 127.0.0.1 only: uvicorn for
ASGI apps, small threaded socket servers for what no ASGI server would send.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import httpcore  # noqa: F401
import pytest

import wscheck.drivers.url
from reference_app import create_app
from tests.servers import free_port, make_test_ca, serve_uvicorn
from wscheck.run.registry import SUITE

# The check modules, httpcore and the network driver are imported here, before pytester
# snapshots sys.modules, so that every inner run shares them: httpx caches httpcore's
# exception classes, which a fresh import inside an inner run would replace.
CHECK_IDS = [c.id for c in SUITE.all()]

#: The kit's own source files as a traceback or a warning names them
#: ("wscheck/run/conversation.py"):
#: none may show in a run's output. They are spelled from the package down, never from the
#: checkout, so a checkout that lives in a folder named ``wscheck`` does not match.
_PACKAGE = Path(wscheck.__file__).resolve().parent
KIT_FILES = sorted(p.relative_to(_PACKAGE.parent).as_posix() for p in _PACKAGE.rglob("*.py"))

#: Generous bound on one whole run with --wscheck-timeout 1 (a healthy run takes 1-5 s).
RUN_BOUND = 30.0

HOSTILE_APPS = '''
"""Hostile and broken ASGI apps: each misbehaves in exactly one way."""

import asyncio

FAREWELLS = ("请注意:窗口即将关闭", "窗口已关闭")
PREFIX = "接收到的消息是:"


async def _connect(scope, receive):
    """Read the connect event; False for lifespan and HTTP scopes (ignored, as raw apps do)."""
    if scope["type"] != "websocket":
        return False
    await receive()
    return True


async def never_accepts(scope, receive, send):
    """Reads the connect event, then sleeps: the handshake is never answered."""
    if await _connect(scope, receive):
        await asyncio.sleep(3600)


async def goes_silent(scope, receive, send):
    """Accepts, then neither reads nor writes again (busy on a timer)."""
    if await _connect(scope, receive):
        await send({"type": "websocket.accept"})
        await asyncio.sleep(3600)


async def never_replies(scope, receive, send):
    """Accepts and reads every message, answering none."""
    if await _connect(scope, receive):
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


async def binary_replies(scope, receive, send):
    """Answers every message with a binary message."""
    if await _connect(scope, receive):
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            await send({"type": "websocket.send", "bytes": b"\\x00\\xffbinary"})


async def _chat(scope, receive, send, on_bye):
    """A correct echo endpoint except for what ``on_bye`` does."""
    if not await _connect(scope, receive):
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await send({"type": "websocket.close", "code": 1003})
            return
        if text == "bye":
            await on_bye(send)
            return
        await send({"type": "websocket.send", "text": PREFIX + text})


async def _half_bye(send):
    await send({"type": "websocket.send", "text": FAREWELLS[0]})
    await send({"type": "websocket.close", "code": 1000})


async def _bye_then_more(send):
    for farewell in FAREWELLS:
        await send({"type": "websocket.send", "text": farewell})
    await send({"type": "websocket.close", "code": 1000})
    try:
        await send({"type": "websocket.send", "text": "one more thing"})
    except Exception:
        pass


async def closes_mid_bye(scope, receive, send):
    """Sends the first farewell only, then closes."""
    await _chat(scope, receive, send, _half_bye)


async def sends_after_close(scope, receive, send):
    """Says bye correctly, then sends once more after its close (and swallows the error)."""
    await _chat(scope, receive, send, _bye_then_more)


async def raises(scope, receive, send):
    """Accepts, and raises on the first message."""
    if await _connect(scope, receive):
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("hostile app exploded")
'''

#: The hostile apps implement the echo endpoint only: judging /item/ws would only add noise.
ECHO_ONLY_SPEC = "[auth]\nenabled = false\n"

#: The same apps in this process, for uvicorn.
hostile = types.ModuleType("hostile")
exec(compile(HOSTILE_APPS, "hostile.py", "exec"), hostile.__dict__)


@pytest.fixture
def kit(pytester: pytest.Pytester) -> pytest.Pytester:
    """A scratch directory with the hostile apps (``hostile.py``) and an echo-only spec."""
    pytester.makepyfile(hostile=HOSTILE_APPS)
    pytester.path.joinpath("echo_only.toml").write_text(ECHO_ONLY_SPEC, encoding="utf-8")
    return pytester


def run_bounded(pytester: pytest.Pytester, *args: str, bound: float = RUN_BOUND,
                ) -> tuple[pytest.RunResult, str]:
    """pytest with the kit and a 1 s timeout; asserts the wall-time bound and that nothing
    inside the kit crashed (an INTERNALERROR or a traceback from wscheck itself)."""
    started = time.monotonic()
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio",
                                "--wscheck-timeout", "1", "-rA", *args)
    elapsed = time.monotonic() - started
    assert elapsed < bound, f"the run took {elapsed:.1f}s (bound {bound:g}s)"
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output, output
    # pytest names the plugin's line as the place of a skip; that is not a leak.
    visible = output.replace("wscheck/pytest/plugin.py:", "")
    leaked = [name for name in KIT_FILES if name in visible]
    assert not leaked, output
    return result, output


def failed_ids(result: pytest.RunResult) -> set[str]:
    return {line.split()[1].removeprefix("wscheck::") for line in result.outlines
            if line.startswith("FAILED wscheck::")}


def assert_stopped_at_once(result: pytest.RunResult, output: str, *fragments: str) -> None:
    """The target was reported once, by the first check, and the run stopped there."""
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    assert "the target does not answer" in output
    for fragment in fragments:
        assert fragment in output, output


# --- in-process: the whole suite, each app broken in one way --------------------------------


@pytest.mark.parametrize(
    ("app", "fragments"),
    [
        ("never_accepts", ["(/ws) never answered the WebSocket handshake within 1s"]),
        ("goes_silent", ["(/ws) accepted the connection but answered nothing within 1s"]),
        ("never_replies", ["(/ws) accepted the connection but answered nothing within 1s"]),
    ],
)
def test_in_process_target_that_does_not_answer_stops_the_run(
    kit: pytest.Pytester, app: str, fragments: list[str]
) -> None:
    result, output = run_bounded(kit, "--wscheck-app", f"hostile:{app}",
                                 "--wscheck-spec", "echo_only.toml", bound=15)
    assert_stopped_at_once(result, output, f"hostile:{app}", *fragments)


def test_in_process_binary_replies(kit: pytest.Pytester) -> None:
    result, output = run_bounded(kit, "--wscheck-app", "hostile:binary_replies",
                                 "--wscheck-spec", "echo_only.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert {"echo.exact", "echo.empty", "bye.sequence"} <= failed_ids(result)
    assert "binary b'\\x00\\xffbinary' (8 bytes)" in output
    assert "echo.exact [MUST]: the reply is not exactly the prefix followed by the message" \
        in output


def test_in_process_close_in_the_middle_of_the_bye_sequence(kit: pytest.Pytester) -> None:
    result, output = run_bounded(kit, "--wscheck-app", "hostile:closes_mid_bye",
                                 "--wscheck-spec", "echo_only.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = failed_ids(result)
    assert "bye.sequence" in failed
    assert {i for i in failed if not i.startswith("prop.")} == {"bye.sequence"}
    assert "bye.sequence [MUST]: the farewells or the close after the bye word are wrong" \
        in output
    # The second farewell was expected where the close came.
    assert "text '窗口已关闭'" in output


def test_in_process_send_after_close(kit: pytest.Pytester) -> None:
    result, output = run_bounded(kit, "--wscheck-app", "hostile:sends_after_close",
                                 "--wscheck-spec", "echo_only.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "bye.nothing-after" in failed_ids(result)
    assert "the app sent 'websocket.send' after the connection was closed" in output


def test_in_process_exception_inside_the_app(kit: pytest.Pytester) -> None:
    result, output = run_bounded(kit, "--wscheck-app", "hostile:raises",
                                 "--wscheck-spec", "echo_only.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert {"echo.exact", "bye.sequence"} <= failed_ids(result)
    assert "app raised RuntimeError: hostile app exploded" in output


# --- over the network: ASGI apps under uvicorn -----------------------------------------------


@pytest.mark.parametrize(
    ("app", "fragment"),
    [
        ("never_accepts", "(/ws) never answered the WebSocket handshake within 1s"),
        ("goes_silent", "(/ws) accepted the connection but answered nothing within 1s"),
        ("never_replies", "(/ws) accepted the connection but answered nothing within 1s"),
    ],
)
def test_network_target_that_does_not_answer_stops_the_run(
    kit: pytest.Pytester, app: str, fragment: str
) -> None:
    # The app never ends by itself: uvicorn must not wait for it on shutdown.
    with serve_uvicorn(getattr(hostile, app), timeout_graceful_shutdown=0.5) as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}",
                                     "--wscheck-spec", "echo_only.toml", bound=15)
    assert_stopped_at_once(result, output, f"ws://{address}", fragment)


#: Checks that each network run below is limited to: the full suite against a server that
#: answers wrongly waits out the timeout in most checks (bounded, but ~25 s at 1 s).
NETWORK_SELECTION = "echo.exact or echo.stays-open or bye.sequence or bye.nothing-after"


def test_network_binary_replies(kit: pytest.Pytester) -> None:
    with serve_uvicorn(hostile.binary_replies) as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}",
                                     "--wscheck-spec", "echo_only.toml",
                                     "-k", NETWORK_SELECTION)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert {"echo.exact", "echo.stays-open", "bye.sequence"} <= failed_ids(result)
    assert "binary b'\\x00\\xffbinary' (8 bytes)" in output


def test_network_close_in_the_middle_of_the_bye_sequence(kit: pytest.Pytester) -> None:
    with serve_uvicorn(hostile.closes_mid_bye) as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}",
                                     "--wscheck-spec", "echo_only.toml",
                                     "-k", NETWORK_SELECTION)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert failed_ids(result) == {"bye.sequence"}
    assert "bye.sequence [MUST]: the farewells or the close after the bye word are wrong" \
        in output


def test_network_send_after_close_is_not_observable(kit: pytest.Pytester) -> None:
    """Over the network the server refuses the late send inside the app: the wire shows a
    correct bye, which the kit passes (only the in-process driver can see the violation)."""
    with serve_uvicorn(hostile.sends_after_close) as address:
        result, _ = run_bounded(kit, "--wscheck-url", f"ws://{address}",
                                "--wscheck-spec", "echo_only.toml", "-k", NETWORK_SELECTION)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=4)


def test_network_exception_inside_the_app(kit: pytest.Pytester) -> None:
    """uvicorn ends the connection (a close 1011 or a plain drop, by implementation)."""
    with serve_uvicorn(hostile.raises, log_level="critical") as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}",
                                     "--wscheck-spec", "echo_only.toml",
                                     "-k", NETWORK_SELECTION)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert {"echo.exact", "bye.sequence"} <= failed_ids(result)
    assert "close 1011" in output or "connection dropped without a close frame" in output


# --- over the network: servers that are not WebSocket servers --------------------------------

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def tcp_server(handler: Handler, connections: int | None = None) -> Iterator[str]:
    """A threaded TCP server on a free loopback port, ``handler`` run per connection (in its
    own daemon thread, each socket with a 5 s timeout); yields ``"127.0.0.1:PORT"``. With
    ``connections``, it stops listening after serving that many."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            handler(conn)

    def accept_loop() -> None:
        served = 0
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            served += 1
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()
            if served == connections:
                listener.close()  # from now on, connecting is refused
                return

    thread = threading.Thread(target=accept_loop, name="tcp_server", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def http_answer(status: int, reason: str) -> Handler:
    body = f"{status} {reason}\n".encode()

    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    return handler


def reset_at_once(conn: socket.socket) -> None:
    """Accept, then reset (RST, not FIN) without reading or writing a byte."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset_after_request(conn: socket.socket) -> None:
    """Read the upgrade request, then reset."""
    _read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize(
    ("handler", "fragment"),
    [
        pytest.param(http_answer(200, "OK"), "refused: HTTP 200", id="http-200"),
        pytest.param(http_answer(500, "Internal Server Error"), "refused: HTTP 500",
                     id="http-500"),
    ],
)
def test_http_server_answering_the_upgrade(
    kit: pytest.Pytester, handler: Handler, fragment: str
) -> None:
    with tcp_server(handler) as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "echo.accept" in failed_ids(result)
    assert "echo.accept [MUST]: the handshake was not accepted" in output
    assert fragment in output, output


@pytest.mark.parametrize("handler", [reset_at_once, reset_after_request],
                         ids=["reset-at-once", "reset-after-request"])
def test_tcp_server_that_resets(kit: pytest.Pytester, handler: Handler) -> None:
    """Nothing can be checked: the run stops at once, and the report says the server reset
    the connection (not that nothing listens, and not a bare exception class name)."""
    with tcp_server(handler) as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}", bound=15)
    assert_stopped_at_once(result, output, f"ws://{address}")
    verdict = next(line for line in result.outlines
                   if line.startswith("wscheck: the target does not answer"))
    assert "nothing is listening" not in verdict
    assert "reset" in verdict.lower(), verdict


def test_server_that_goes_away_during_the_run(kit: pytest.Pytester) -> None:
    """The server answers the first connection (with HTTP 500), then stops listening: every
    later check finds nothing there. That is one clear failure line per check (or one for
    the run), never a traceback out of the kit."""
    with tcp_server(http_answer(500, "Internal Server Error"), connections=1) as address:
        result, output = run_bounded(kit, "--wscheck-url", f"ws://{address}",
                                     "-k", "echo.exact or echo.empty or bye.sequence")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert f"nothing is listening at ws://{address}" in output


def test_nothing_listening(kit: pytest.Pytester) -> None:
    port = free_port()
    result, output = run_bounded(kit, "--wscheck-url", f"ws://127.0.0.1:{port}", bound=10)
    assert_stopped_at_once(result, output, f"nothing is listening at ws://127.0.0.1:{port}",
                           "connection refused", "--wscheck-url")


# --- wss:// with a self-signed certificate ---------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA, and a certificate for 127.0.0.1 signed by it."""
    return make_test_ca(tmp_path_factory.mktemp("tls"))


def test_wss_self_signed_fails_with_a_tls_message_then_passes_with_its_ca(
    kit: pytest.Pytester, self_signed: dict[str, Path]
) -> None:
    with serve_uvicorn(create_app(), ssl_certfile=str(self_signed["cert"]),
                       ssl_keyfile=str(self_signed["key"]), log_level="critical") as address:
        url = f"wss://{address}"
        result, output = run_bounded(kit, "--wscheck-url", url, bound=15)
        assert_stopped_at_once(result, output, f"{url} (/ws): TLS handshake failed",
                               "CERTIFICATE_VERIFY_FAILED", "--wscheck-ca-file")

        result, output = run_bounded(kit, "--wscheck-url", url, "--wscheck-ca-file",
                                     str(self_signed["ca"]), "-k",
                                     "echo.accept or echo.exact or bye.sequence or auth.token")
        assert result.ret == pytest.ExitCode.OK, output
        result.assert_outcomes(passed=4)

