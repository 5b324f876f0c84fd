"""echo.long at its edges: a text over 64 KiB refused with 1009 (a limit in the app or in the
server) passes, a 64 KiB one refused so does not, and a failure says what came back in
sizes, never with the text itself."""

from __future__ import annotations

import importlib

from reference_app import create_app
from tests.implementations.raw_asgi import ChatApp, ClientGone, Conn
from tests.verdicts import asgi_verdict, asgi_verdicts, url_verdicts
from wscheck.checks.echo import LARGE_TEXT_SIZES
from wscheck.checks.judging import MESSAGE_TOO_BIG
from wscheck.generation.strategies import LONG_MESSAGE_BYTES

LONG = ["echo.long"]


def test_a_limit_of_the_app_below_the_large_texts_passes() -> None:
    """The reference app with a 96 KiB limit: both larger texts get its 1009."""
    assert LONG_MESSAGE_BYTES < 96 * 1024 < min(LARGE_TEXT_SIZES)
    assert asgi_verdicts(create_app(max_message_size=96 * 1024), only=LONG) == {
        "echo.long": "pass"}


def test_a_servers_frame_limit_below_the_large_texts_passes() -> None:
    """uvicorn with an 80 KiB frame limit (the 64 KiB text and its frame header fit) closes
    the larger ones with 1009 itself, while the client may still be writing them."""
    assert url_verdicts(create_app(), only=LONG, ws_max_size=80 * 1024) == {
        "echo.long": "pass"}


def test_the_reference_app_echoes_every_size_over_uvicorn() -> None:
    """Under uvicorn's default 16 MiB limit and the app's 1 MiB, all three come back whole."""
    assert url_verdicts(create_app(), only=LONG) == {"echo.long": "pass"}


class _TooBigAt64KiB(ChatApp):
    """Closes with 1009 on a text of 64 KiB too: the protocol requires a server to take it."""

    async def send_reply(self, conn: Conn, text: str) -> None:
        if len(text.encode("utf-8")) > LONG_MESSAGE_BYTES:  # prefix included: the defect
            await conn.close(MESSAGE_TOO_BIG)
            raise ClientGone
        await super().send_reply(conn, text)


def test_1009_for_a_64_kib_text_fails() -> None:
    assert asgi_verdicts(_TooBigAt64KiB(), only=LONG) == {"echo.long": "fail"}


def _problem(app: object) -> str:
    verdict = asgi_verdict(app, "echo.long")
    assert verdict.problem is not None
    return verdict.problem


def test_failures_say_what_came_back_in_sizes() -> None:
    truncated = _problem(importlib.import_module("tests.broken.truncates_long_text").app)
    # The buffer's 65,536th byte is inside a character: the character is dropped.
    assert truncated.startswith("a text of 102,400 bytes of UTF-8 got an echo of only its "
                                "first 65,535 bytes (truncated)")
    closed = _problem(importlib.import_module("tests.broken.big_text_closes_1011").app)
    assert closed.startswith("a text of 102,400 bytes of UTF-8 got a close with 1011")
    for problem in (truncated, closed):
        assert "or a close with 1009 (message too big)" in problem
        assert len(problem) < 300  # sizes, not the text
    at_64 = _problem(_TooBigAt64KiB())
    assert at_64 == ("a text of 65,536 bytes of UTF-8 got a close with 1009; the protocol "
                     "allows only the whole text echoed in the reply")
