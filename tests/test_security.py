"""Security: no credential in the reference app's logs, no HTML from messages in its page, and
no traffic from the kit to anything but the target it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpcore  # noqa: F401
import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

import reference_app
import wscheck.drivers.url  # noqa: F401
from reference_app import uvicorn_config
from reference_app.redaction import _SERVER_LOGGERS, RedactCredentials
from tests.servers import free_port, serve_uvicorn
from wscheck.core.spec import Spec
from wscheck.run.registry import SUITE

TIMEOUT = 10.0
TOKEN = "tok-7f3a9c-SECRET"
COOKIE = "ck-51be02-SECRET"
# The check modules, httpcore and the network driver are imported here, before pytester
# snapshots sys.modules, so that every inner run shares them: httpx caches httpcore's
# exception classes, which a fresh import inside an inner run would replace.
CHECK_IDS = [c.id for c in SUITE.all()]
#: The checks that apply to the reference protocol (the broadcast room's do not).
APPLICABLE = [c.id for c in SUITE.all() if not c.not_applicable(Spec())]

WS_IMPLS = [
    "websockets-sansio",
    pytest.param("websockets", marks=[
        pytest.mark.filterwarnings("ignore::DeprecationWarning"),
        pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
    ]),
    "wsproto",
]

# --- credentials never reach a log record -----------------------------------------------------


class _Server:
    """uvicorn in a thread (no signal handlers), for a ready-made ``uvicorn.Config``."""

    def __init__(self, config: uvicorn.Config) -> None:
        class Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:
                pass

        self.server = Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "no start"
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT)


#: Every logger a uvicorn process writes to, the root included.
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "websockets",
           "asyncio")
#: The test's own clients log to the root too: their records are not the server's.
CLIENT_LOGGERS = ("httpx", "httpcore", "websockets.client")


@contextlib.contextmanager
def capture_everything() -> Iterator[list[str]]:
    """Every record (TRACE and up) of every logger in ``LOGGERS``, formatted as a handler
    would print it (message, arguments and any exception text)."""
    lines: list[str] = []
    seen: dict[int, logging.LogRecord] = {}  # holding the records keeps their ids unique

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if id(record) not in seen and not record.name.startswith(CLIENT_LOGGERS):
                seen[id(record)] = record
                lines.append(f"{record.name}: {logging.Formatter().format(record)}")

    handler = Collect(level=1)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(1)
    try:
        yield lines
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)


async def _use_every_credential(address: str) -> None:
    """Token and cookie on the credentials endpoint, on the echo endpoint and on the page."""
    base = f"ws://{address}"
    async with connect(f"{base}/item/ws?token={TOKEN}&q=3", open_timeout=TIMEOUT,
                       additional_headers={"Cookie": f"session={COOKIE}"}) as ws:
        await ws.send("hello")
        replies = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(3)]
        assert replies[0] == f"Session cookie or query token value is: {COOKIE}"
    async with connect(f"{base}/ws?token={TOKEN}", open_timeout=TIMEOUT,
                       additional_headers={"Cookie": f"session={COOKIE}"}) as ws:
        await ws.send("bye")
        for _ in range(2):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    response = await asyncio.to_thread(
        httpx.get, f"http://{address}/?token={TOKEN}", cookies={"session": COOKIE},
        timeout=TIMEOUT)
    assert response.status_code == 200


def _leaks(lines: list[str]) -> list[str]:
    return [line for line in lines if TOKEN in line or COOKIE in line]


@pytest.mark.asyncio
@pytest.mark.parametrize("ws_impl", WS_IMPLS)
async def test_no_credential_is_logged_even_at_trace(ws_impl: str) -> None:
    """uvicorn at its most verbose (TRACE: every ASGI scope; DEBUG: websockets' request line
    and headers; INFO: handshakes and the access log with query strings)."""
    port = free_port()
    config = uvicorn_config(host="127.0.0.1", port=port, ws=ws_impl, log_level="trace",
                            access_log=True)
    with capture_everything() as lines, _Server(config):
        await _use_every_credential(f"127.0.0.1:{port}")
        await asyncio.sleep(0.2)  # let the server log the closes
    assert _leaks(lines) == []
    # Not vacuous: the requests were logged, with the query string redacted.
    text = "\n".join(lines)
    assert "/item/ws?[redacted]" in text
    assert '"GET /?[redacted] HTTP/1.1" 200' in text


@pytest.mark.asyncio
async def test_plain_uvicorn_would_leak_the_token() -> None:
    """The control: the same traffic through uvicorn without the filter leaks the token into
    the log, which is why ``serve()`` installs it."""
    installed = {name: [f for f in logging.getLogger(name).filters
                        if isinstance(f, RedactCredentials)]
                 for name in _SERVER_LOGGERS}
    for name, filters in installed.items():
        for f in filters:
            logging.getLogger(name).removeFilter(f)
    try:
        port = free_port()
        config = uvicorn.Config(reference_app.create_app(), host="127.0.0.1", port=port,
                                log_level="debug")
        with capture_everything() as lines, _Server(config):
            await _use_every_credential(f"127.0.0.1:{port}")
            await asyncio.sleep(0.2)
        assert any(TOKEN in line for line in lines), lines
        assert any(COOKIE in line for line in lines), lines
    finally:
        for name, filters in installed.items():
            for f in filters:
                logging.getLogger(name).addFilter(f)


def test_redaction_keeps_uvicorn_record_shapes() -> None:
    """The access-log formatter unpacks five arguments: redaction keeps them."""
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "GET", f"/?token={TOKEN}", "1.1", 200), None)
    assert RedactCredentials().filter(record)
    assert record.args == ("127.0.0.1:1", "GET", "/?[redacted]", "1.1", 200)
    header = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, "< %s: %s",
                               ("Cookie", f"session={COOKIE}"), None)
    RedactCredentials().filter(header)
    assert header.getMessage() == "< Cookie: [redacted]"
    plain = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                              f'"WebSocket /item/ws?token={TOKEN}" 403', None, None)
    RedactCredentials().filter(plain)
    assert plain.getMessage() == '"WebSocket /item/ws?[redacted]" 403'
    scope = logging.LogRecord("uvicorn.asgi", 5, __file__, 1, "%s [%d] Started scope=%s",
                              ("ASGI", 1, {"path": "/item/ws",
                                           "query_string": f"token={TOKEN}".encode(),
                                           "headers": [(b"cookie", COOKIE.encode())]}), None)
    RedactCredentials().filter(scope)
    assert TOKEN not in scope.getMessage() and COOKIE not in scope.getMessage()
    from websockets.frames import Frame, Opcode

    frame = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, "> %s",
                              (Frame(Opcode.TEXT, f"value is: {COOKIE}".encode()),), None)
    RedactCredentials().filter(frame)
    assert frame.getMessage() == "> TEXT [redacted] [26 bytes]"


# --- the page renders messages as text --------------------------------------------------------


def _page_script() -> str:
    template = resources.files(reference_app).joinpath("chat.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script(?![^>]*application/json)[^>]*>(.*?)</script>", template,
                         re.DOTALL)
    assert len(scripts) == 1
    return str(scripts[0])


def test_page_renders_received_messages_as_text() -> None:
    script = _page_script()
    # The message handler puts the data in with textContent ...
    handler = script[script.index('addEventListener("message"'):]
    handler = handler[:handler.index("});")]
    assert re.search(r"\.textContent\s*=\s*[^;]*event\.data", handler), handler
    # ... and nothing anywhere in the page parses a string as HTML or code.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                 "createContextualFragment", "DOMParser", "eval(", "new Function",
                 "setTimeout(\"", "srcdoc"):
        assert sink not in script, sink


def test_page_config_is_data_not_code() -> None:
    """The spec's echo path reaches the page as JSON in a non-executed element; a path that
    tries to close the element cannot."""
    from wscheck.core.spec import EchoSpec, Spec

    page = reference_app._page(Spec(echo=EchoSpec(path="/x</script><script>alert(1)//")))
    assert page.count("</script>") == 2  # the JSON element's own and the script's own
    assert '<script id="config" type="application/json">' in page


# --- the kit talks to its target only ---------------------------------------------------------


@contextlib.contextmanager
def record_network() -> Iterator[dict[str, list[Any]]]:
    """Record every Internet socket created, every connect and every name lookup in this
    process (all threads) until the block ends."""
    seen: dict[str, list[Any]] = {"sockets": [], "connects": [], "lookups": []}
    cls = socket.socket
    original_init, original_connect = cls.__init__, cls.connect
    original_connect_ex, original_getaddrinfo = cls.connect_ex, socket.getaddrinfo

    def init(self: socket.socket, family: Any = -1, *args: Any, **kwargs: Any) -> None:
        original_init(self, family, *args, **kwargs)
        if self.family in (socket.AF_INET, socket.AF_INET6):
            seen["sockets"].append(self.family)

    def connect_(self: socket.socket, address: Any) -> None:
        seen["connects"].append(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        seen["connects"].append(address)
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen["lookups"].append(host)
        return original_getaddrinfo(host, *args, **kwargs)

    cls.__init__ = init  # type: ignore[method-assign]
    cls.connect = connect_  # type: ignore[method-assign]
    cls.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield seen
    finally:
        cls.__init__ = original_init  # type: ignore[method-assign]
        cls.connect = original_connect  # type: ignore[method-assign]
        cls.connect_ex = original_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


def test_network_run_contacts_only_the_target(pytester: pytest.Pytester) -> None:
    with serve_uvicorn(reference_app.create_app()) as address:
        host, port = address.rsplit(":", 1)
        with record_network() as seen:
            result = _run(pytester, "--wscheck-url", f"ws://{address}/",
                          "--wscheck-examples", "5", "--wscheck-quiet-window", "0.05")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    # robust.disconnect is inconclusive over the network (a skip): the server's log is out
    # of sight, which leaves the exit status alone.
    result.assert_outcomes(passed=len(APPLICABLE) - 1,
                           skipped=1 + len(CHECK_IDS) - len(APPLICABLE))
    assert seen["connects"], "no connection was recorded: the recorder is broken"
    assert {tuple(a[:2]) for a in seen["connects"]} == {(host, int(port))}
    assert set(seen["lookups"]) <= {host}


def test_redirect_is_not_followed(pytester: pytest.Pytester) -> None:
    """A server that redirects the upgrade elsewhere is reported, not followed."""
    elsewhere = socket.socket()
    elsewhere.bind(("127.0.0.1", 0))
    elsewhere.listen(8)
    elsewhere.settimeout(0.01)
    other = f"127.0.0.1:{elsewhere.getsockname()[1]}"
    redirector = socket.socket()
    redirector.bind(("127.0.0.1", 0))
    redirector.listen(64)
    redirector.settimeout(0.05)
    stop = threading.Event()

    def redirect() -> None:
        while not stop.is_set():
            try:
                conn, _ = redirector.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: ws://{other}/ws\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())

    thread = threading.Thread(target=redirect, daemon=True)
    thread.start()
    try:
        address = f"127.0.0.1:{redirector.getsockname()[1]}"
        with record_network() as seen:
            result = _run(pytester, "--wscheck-url", f"ws://{address}", "--wscheck-timeout",
                          "1", "-k", "echo.accept or echo.exact or auth.token")
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        assert "refused: HTTP 307" in result.stdout.str()
        with pytest.raises(OSError):  # nobody knocked on the other door
            elsewhere.accept()
        assert {tuple(a[:2]) for a in seen["connects"]} == {
            ("127.0.0.1", redirector.getsockname()[1])}
    finally:
        stop.set()
        thread.join(5)
        redirector.close()
        elsewhere.close()


def test_in_process_run_opens_no_socket(pytester: pytest.Pytester) -> None:
    with record_network() as seen:
        result = _run(pytester, "--wscheck-app", "reference_app:app")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=len(APPLICABLE), skipped=len(CHECK_IDS) - len(APPLICABLE))
    assert seen == {"sockets": [], "connects": [], "lookups": []}
