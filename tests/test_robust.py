"""robust.binary at its edges: a large binary message refused with 1009 (a server's own limit,
in the app or in the server) passes, a short one refused so does not."""

from __future__ import annotations

from reference_app import create_app
from tests.implementations.raw_asgi import ChatApp, Conn
from tests.verdicts import asgi_verdicts, url_verdicts
from wscheck.checks.robust import LARGE_BINARY_SIZES, MESSAGE_TOO_BIG

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
