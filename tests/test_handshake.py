"""The network driver fails every ``101`` answer RFC 6455 §4.1 says a client must fail, names
the header and value that broke it, and a run against such a server stops at once with that
as its one failure; a correct server (the reference app under uvicorn) still passes.

The bad answers come from a raw TCP server, since no real server writes them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.raw_servers import accept_token, raw_server, read_request, read_until_gone
from tests.servers import serve_uvicorn
from wscheck.cli.main import main
from wscheck.core.events import Accepted, TransportError
from wscheck.drivers.url import UrlDriver

Headers = Callable[[str], list[str]]


def _good(accept: str) -> list[str]:
    return ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}"]


def _without(name: str) -> Headers:
    return lambda accept: [h for h in _good(accept) if not h.startswith(name + ":")]


def _with(name: str, value: str) -> Headers:
    return lambda accept: [*_without(name)(accept), f"{name}: {value}"]


#: Each defect: the headers of the 101 answer, and the exact problem the driver must report.
RFC = "RFC 6455 §4.1: the client must fail the connection"
DEFECTS: dict[str, tuple[Headers, str]] = {
    "no-upgrade": (_without("Upgrade"),
                   f"the 101 answer has no Upgrade header ({RFC} without Upgrade: websocket)"),
    "upgrade-h2c": (_with("Upgrade", "h2c"),
                    f"the 101 answer has Upgrade: h2c, not websocket ({RFC})"),
    "no-connection": (_without("Connection"), "the 101 answer has no Connection header "
                      f"({RFC} without Connection: Upgrade)"),
    "connection-keep-alive": (_with("Connection", "keep-alive"),
                              "the 101 answer has Connection: keep-alive, without the Upgrade "
                              f"token ({RFC})"),
    "no-accept": (_without("Sec-WebSocket-Accept"),
                  f"the 101 answer has no Sec-WebSocket-Accept header ({RFC})"),
    "wrong-accept": (_with("Sec-WebSocket-Accept", "dGhlIHNhbXBsZSBub25jZQ=="),
                     "the 101 answer has Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==, not "
                     "the token for the key sent ({accept}) (" + RFC + ")"),
    "unoffered-extension": (_with("Sec-WebSocket-Extensions", "permessage-deflate"),
                            "the 101 answer has Sec-WebSocket-Extensions: permessage-deflate, "
                            f"an extension the client never offered ({RFC})"),
    "unasked-subprotocol": (_with("Sec-WebSocket-Protocol", "chat"),
                            "the 101 answer has Sec-WebSocket-Protocol: chat, a subprotocol "
                            f"the client never asked for ({RFC})"),
}


def answering(headers: Headers, keys: list[str]) -> Callable[..., object]:
    """A raw server handler answering every handshake with a 101 and ``headers``; the keys
    it was sent are kept in ``keys``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        keys.append(request["sec-websocket-key"])
        lines = ["HTTP/1.1 101 Switching Protocols",
                 *headers(accept_token(request["sec-websocket-key"].encode("ascii")))]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        await read_until_gone(reader)

    return handler


async def _handshake(address: str) -> object:
    driver = UrlDriver(f"ws://{address}", timeout=2.0)
    try:
        connection = await driver.connect("/ws")
        await connection.close()
        return connection.handshake
    finally:
        await driver.aclose()


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_a_bad_101_answer_fails_the_connection_naming_its_header(defect: str) -> None:
    headers, problem = DEFECTS[defect]
    keys: list[str] = []
    with raw_server(answering(headers, keys)) as address:  # type: ignore[arg-type]
        handshake = asyncio.run(_handshake(address))
    assert len(keys) == 1
    expected = problem.format(accept=accept_token(keys[0].encode("ascii")))
    assert handshake == TransportError(expected)


@pytest.mark.parametrize("variant", [
    ["Upgrade: WebSocket", "Connection: keep-alive, Upgrade"],
    ["upgrade: websocket", "connection: upgrade", "Sec-WebSocket-Extensions: ",
     "Sec-WebSocket-Protocol: "],
])
def test_a_valid_101_answer_in_other_spellings_is_accepted(variant: list[str]) -> None:
    """Header names and the Upgrade value are case-insensitive, Connection is a token list,
    and an empty extension or subprotocol header names none."""
    def headers(accept: str) -> list[str]:
        return [*variant, f"Sec-WebSocket-Accept: {accept}"]

    with raw_server(answering(headers, [])) as address:  # type: ignore[arg-type]
        assert asyncio.run(_handshake(address)) == Accepted()


@pytest.mark.parametrize("defect", ["upgrade-h2c", "unoffered-extension"])
def test_a_run_against_a_bad_handshake_stops_once_naming_the_header(
        defect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The probe (the first check's handshake) reports it, and no check waits on after it."""
    headers, problem = DEFECTS[defect]
    keys: list[str] = []
    report = tmp_path / "report.json"
    with raw_server(answering(headers, keys)) as address:  # type: ignore[arg-type]
        status = main(["run", "--url", f"ws://{address}", "--timeout", "1",
                       "--report", str(report)])
    out = capsys.readouterr().out
    assert status == 1, out
    assert len(keys) == 1, "the run went on connecting after the probe failed"
    records = json.loads(report.read_text())["checks"]
    failures = [r for r in records if r["verdict"] in ("fail", "error")]
    assert [r["id"] for r in failures] == ["echo.accept"], failures
    assert failures[0]["message"].endswith(f"(/ws): {problem}"), failures[0]["message"]
    assert problem.split(" (RFC")[0] in out, out


def test_the_reference_app_still_passes_over_the_network(tmp_path: Path) -> None:
    """The validation takes a real server's handshake (uvicorn serving the reference app)."""
    from reference_app import create_app

    report = tmp_path / "report.json"
    with serve_uvicorn(create_app()) as address:
        status = main(["run", "--url", f"ws://{address}", "--timeout", "2",
                       "--report", str(report), "--", "-q"])
    assert status == 0
    records = json.loads(report.read_text())["checks"]
    assert records and all(r["verdict"] != "fail" for r in records), records
