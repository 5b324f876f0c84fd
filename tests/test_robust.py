"""robust.binary and robust.disconnect at their edges: a large binary message refused with
1009 (a server's own limit, in the app or in the server) passes, a short one refused so does
not; a client that drops right before the app's own close is judged by what the app does."""

from __future__ import annotations

import asyncio

from reference_app import create_app
from tests.implementations.raw_asgi import ChatApp, Conn, Message
from tests.verdicts import asgi_verdicts, run_checks, url_verdicts
from wscheck.checks.robust import LARGE_BINARY_SIZES, MESSAGE_TOO_BIG
from wscheck.core.events import AppCrashed
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver, lifespan
from wscheck.run.registry import Verdict

BINARY = ["robust.binary"]


def test_a_limit_of_the_app_below_the_large_messages_passes() -> None:
    """The reference app with a 96 KiB limit: both large binary messages get its 1009."""
    assert min(LARGE_BINARY_SIZES) > 96 * 1024
    app = create_app(max_message_size=96 * 1024)
    assert asgi_verdicts(app, only=BINARY) == {"robust.binary": "pass"}


def test_a_servers_frame_limit_below_the_large_messages_passes() -> None:
    """uvicorn with an 80 KiB frame limit closes the large ones with 1009 itself, while the
    client may still be writing them; the short one gets the app's 1003."""
    assert url_verdicts(create_app(), only=BINARY, ws_max_size=80 * 1024) == {
        "robust.binary": "pass"}


def test_the_reference_app_passes_over_uvicorn() -> None:
    """The large messages reach the server whole (the network driver sends any size) and the
    reference app's 1003 comes back; a drop before its close is unobservable there."""
    assert url_verdicts(create_app(), only=[*BINARY, "robust.disconnect"]) == {
        "robust.binary": "pass", "robust.disconnect": "inconclusive"}


class _TooBigAlways(ChatApp):
    """Closes every binary message with 1009, a short one too: the protocol takes 64 KiB."""

    async def on_binary(self, conn: Conn, data: bytes) -> None:
        await conn.close(MESSAGE_TOO_BIG)


def test_1009_for_a_short_binary_message_fails() -> None:
    assert asgi_verdicts(_TooBigAlways(), only=BINARY) == {"robust.binary": "fail"}


class _Unguarded(Conn):
    async def close(self, code: int = 1000) -> None:
        message: Message = {"type": "websocket.close", "code": code}
        await self._send(message)  # the OSError of a client that left escapes


class _RefusalUnguarded(ChatApp):
    """Only the close that refuses a client without credentials lets the failure out."""

    async def refuse(self, conn: Conn) -> None:
        await super().refuse(_Unguarded(conn.scope, conn._receive, conn._send))


def _disconnect_verdict(app: ChatApp) -> Verdict:
    async def run() -> Verdict:
        async with lifespan(app) as wrapped:  # type: ignore[arg-type]
            driver = AsgiDriver(wrapped, timeout=2.0)
            try:
                results = await run_checks(driver, Spec(), only=["robust.disconnect"])
            finally:
                await driver.aclose()
        verdict = results["robust.disconnect"][1]
        assert verdict is not None
        return verdict

    return asyncio.run(run())


def test_a_drop_right_after_a_refused_handshake_is_seen() -> None:
    """The client leaves between the accept and the close that refuses it (no credential):
    the close fails, and an app that lets that out is caught, with the conversation shown."""
    verdict = _disconnect_verdict(_RefusalUnguarded())
    assert verdict.problem is not None
    assert "dropped right before the server's close" in verdict.problem
    obs = verdict.observation
    assert obs is not None and isinstance(obs.aftermath, AppCrashed)
    assert obs.aftermath.exception.startswith("ClientDisconnected")
    assert obs.conversation.path == "/item/ws" and not obs.conversation.query
    assert _disconnect_verdict(ChatApp()).problem is None
