"""Fixtures for users' own checks: the spec, the target, a synchronous ``wscheck_run`` and an
asynchronous ``wscheck_connect``.

They reach the run's :class:`~wscheck.config.target.Runtime` (one event loop thread for the whole
run) through the config stash the plugin fills at configure time; the keys live here because
these fixtures are what reads them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from wscheck.config.settings import Settings, flag_for, speak_as
from wscheck.config.target import Runtime
from wscheck.core.events import Conversation, Event
from wscheck.core.spec import Spec
from wscheck.drivers.base import Connection, TargetUnreachable
from wscheck.errors import TargetDown
from wscheck.run.conversation import Observation

__all__ = [
    "RUNTIME_KEY",
    "SETTINGS_KEY",
    "BridgedConnection",
    "wscheck_connect",
    "wscheck_run",
    "wscheck_spec",
    "wscheck_target",
]

SETTINGS_KEY = pytest.StashKey[Settings]()
RUNTIME_KEY = pytest.StashKey[Runtime]()


def runtime_of(config: pytest.Config) -> Runtime:
    """The run's runtime; fails the test with what to do when no target is configured."""
    runtime = config.stash.get(RUNTIME_KEY, None)
    if runtime is None:
        interface = config.stash[SETTINGS_KEY].interface
        pytest.fail("this test uses a wscheck fixture but no target is configured: run pytest "
                    f"with {flag_for('app', interface)} MODULE:ATTR or "
                    f"{flag_for('url', interface)} ws://HOST:PORT", pytrace=False)
    return runtime


def _down(runtime: Runtime, exc: TargetUnreachable) -> TargetDown:
    """The target went away after it answered the probe."""
    return TargetDown(speak_as(str(exc), runtime.settings.interface))


@pytest.fixture(scope="session")
def wscheck_spec(pytestconfig: pytest.Config) -> Spec:
    """The protocol in effect for this run (from --wscheck-spec, [tool.wscheck], or the
    reference protocol)."""
    return pytestconfig.stash[SETTINGS_KEY].spec


@pytest.fixture(scope="session")
def wscheck_target(pytestconfig: pytest.Config) -> Settings:
    """The configured target and run settings (``.app`` or ``.url``, ``.timeout``, ...).
    Fails the test with a clear message when no target is configured."""
    runtime_of(pytestconfig)
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture
def wscheck_run(pytestconfig: pytest.Config) -> Callable[[Conversation], Observation]:
    """Run a whole :class:`~wscheck.Conversation` on the target and get an
    :class:`Observation` (``.expected`` by the model, ``.observed``, ``.ok``).

    Synchronous: usable from plain and async tests alike::

        def test_hello_twice(wscheck_run, wscheck_spec):
            obs = wscheck_run(Conversation.of(wscheck_spec.echo.url_path(), "hi", "hi"))
            assert obs.ok, obs
    """
    runtime = runtime_of(pytestconfig)

    def run(conversation: Conversation) -> Observation:
        runtime.ensure_up()
        try:
            return runtime.call(runtime.run, conversation)
        except TargetUnreachable as exc:
            raise _down(runtime, exc) from None

    return run


class BridgedConnection:
    """A connection on the run's loop, usable with ``await`` from any asyncio test loop
    (pytest-asyncio or anyio's asyncio backend)."""

    def __init__(self, runtime: Runtime, connection: Connection) -> None:
        self._runtime = runtime
        self._connection = connection
        self.handshake: Event = connection.handshake

    async def _on_run_loop(self, coro: Any) -> Any:
        return await asyncio.wrap_future(self._runtime.submit(coro))

    async def send_text(self, text: str) -> None:
        """Send a text message."""
        await self._on_run_loop(self._connection.send_text(text))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._on_run_loop(self._connection.send_bytes(data))

    async def receive(self, timeout: float | None = None) -> Event:
        """The next event (``Text``, ``Closed``, ...), or ``Silence`` after the deadline."""
        result: Event = await self._on_run_loop(self._connection.receive(timeout))
        return result

    async def quiet(self, window: float | None = None) -> Event | None:
        """None if the server stays silent, else what it sent."""
        result: Event | None = await self._on_run_loop(self._connection.quiet(window))
        return result

    async def close(self, code: int = 1000) -> None:
        """Close normally."""
        await self._on_run_loop(self._connection.close(code))

    async def drop(self) -> None:
        """Vanish without a closing handshake."""
        await self._on_run_loop(self._connection.drop())


ConnectFactory = Callable[..., Any]


@pytest.fixture
def wscheck_connect(pytestconfig: pytest.Config) -> Iterator[ConnectFactory]:
    """Open connections on the target from async tests::

        async def test_my_extra_check(wscheck_connect, wscheck_spec):
            conn = await wscheck_connect(wscheck_spec.echo.url_path())
            await conn.send_text("hi")
            assert await conn.receive() == Text("接收到的消息是:hi")

    ``await wscheck_connect(path, query={...}, cookies={...})`` returns a connection with
    ``send_text``, ``send_bytes``, ``receive(timeout)``, ``quiet()``, ``close()`` and
    ``drop()``; every wait has the run's deadline. Connections left open are closed after
    the test.
    """
    runtime = runtime_of(pytestconfig)
    # Probed here, in the fixture's setup, not inside ``connect``: the probe blocks until the
    # target answers, and ``connect`` runs on the test's own event loop, which it would stall.
    runtime.ensure_up()
    opened: list[Connection] = []

    async def connect(path: str, query: dict[str, str] | Sequence[tuple[str, str]] = (),
                      cookies: dict[str, str] | Sequence[tuple[str, str]] = ()
                      ) -> BridgedConnection:
        q = tuple(query.items()) if isinstance(query, dict) else tuple(query)
        c = tuple(cookies.items()) if isinstance(cookies, dict) else tuple(cookies)
        try:
            conn: Connection = await asyncio.wrap_future(
                runtime.submit(runtime.connect(path, q, c)))
        except TargetUnreachable as exc:
            raise _down(runtime, exc) from None
        opened.append(conn)
        return BridgedConnection(runtime, conn)

    yield connect

    async def close_all() -> None:
        for conn in opened:
            await conn.close()

    if opened:
        runtime.call(close_all)
