"""A WebSocket echo server written by hand on asyncio, with one defect at a time, for the
rfc6455 suite's own tests: with no defect it conforms (every MUST case passes), and each
defect makes exactly its named cases fail (tests/rfc6455/test_broken_servers.py).

Its frame reader is its own (no library), so that one line of it can be wrong on purpose.
Every read is bounded; the server runs in a thread of its own (tests.raw_servers).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import struct
from collections.abc import Iterator

from tests.raw_servers import READ_BOUND, accept_token, raw_server, read_request

#: Each defect, and what it does wrong.
DEFECTS = {
    "accepts-invalid-utf8": "echoes text messages without validating their UTF-8",
    "no-reassembly": "echoes each fragment as a message of its own",
    "ping-as-message": "echoes a ping's payload as a text message instead of a pong",
    "no-close-answer": "drops the TCP connection on a close frame without answering it",
    "accepts-unmasked": "takes unmasked client frames",
    "accepts-rsv": "ignores the reserved bits",
    "accepts-reserved-opcodes": "ignores frames with reserved opcodes",
    "accepts-invalid-close-codes": "echoes any close code, valid or not",
    "accepts-big-control": "answers pings of any length",
    "data-after-close": "sends a text frame after its close frame",
    "validates-per-message": "checks UTF-8 once a text message is whole (allowed: slower)",
}

_VALID_CODES = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


def _frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n <= 125:
        head += bytes([n])
    elif n <= 0xFFFF:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _close(code: int | None) -> bytes:
    return _frame(0x8, b"" if code is None else struct.pack("!H", code))


class _Fail(Exception):
    """Fail the WebSocket connection with this close code."""

    def __init__(self, code: int) -> None:
        self.code = code


def _valid_close_code(code: int) -> bool:
    return code in _VALID_CODES or 3000 <= code <= 4999


def handler(defect: str | None):  # type: ignore[no-untyped-def]
    """The per-connection handler of a server with ``defect`` (None: conforming)."""

    async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, int, bool, bytes]:
        async def exactly(n: int) -> bytes:
            return await asyncio.wait_for(reader.readexactly(n), READ_BOUND)

        first, second = await exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await exactly(8))[0]
        if length > 64 * 1024 * 1024:
            raise _Fail(1009)
        masked = bool(second & 0x80)
        key = await exactly(4) if masked else b""
        payload = await exactly(length)
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if length < 4096 \
                else _unmask(payload, key)
        return bool(first & 0x80), (first >> 4) & 7, first & 0x0F, masked, payload

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_request(reader)
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_token(headers['sec-websocket-key'].encode())}\r\n\r\n"
                      ).encode())
        message: int | None = None  # the opcode of the message being reassembled
        parts: list[bytes] = []
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while True:
                fin, rsv, opcode, masked, payload = await read_frame(reader)
                if not masked and defect != "accepts-unmasked":
                    raise _Fail(1002)
                if rsv and defect != "accepts-rsv":
                    raise _Fail(1002)
                if opcode not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA):
                    if defect == "accepts-reserved-opcodes":
                        continue
                    raise _Fail(1002)
                if opcode >= 0x8:
                    if not fin or (len(payload) > 125 and defect != "accepts-big-control"):
                        raise _Fail(1002)
                    if opcode == 0x9:
                        writer.write(_frame(0x1, payload) if defect == "ping-as-message"
                                     else _frame(0xA, payload))
                    elif opcode == 0x8:
                        await _on_close(writer, payload)
                        return
                    continue
                if opcode == 0x0 and message is None:
                    raise _Fail(1002)
                if opcode != 0x0 and message is not None:
                    raise _Fail(1002)
                if opcode != 0x0:
                    message, parts = opcode, []
                    decoder.reset()
                if message == 0x1 and defect not in ("accepts-invalid-utf8",
                                                     "validates-per-message"):
                    try:
                        decoder.decode(payload, final=fin)
                    except UnicodeDecodeError:
                        raise _Fail(1007) from None
                if defect == "no-reassembly":
                    writer.write(_frame(message or 0x1, payload))
                else:
                    parts.append(payload)
                if fin:
                    whole = b"".join(parts)
                    if message == 0x1 and defect == "validates-per-message":
                        try:
                            whole.decode("utf-8")
                        except UnicodeDecodeError:
                            raise _Fail(1007) from None
                    if defect != "no-reassembly":
                        writer.write(_frame(message or 0x1, whole))
                    message, parts = None, []
                await writer.drain()
        except _Fail as fail:
            writer.write(_close(fail.code))
            await writer.drain()
        except asyncio.IncompleteReadError:
            return

    async def _on_close(writer: asyncio.StreamWriter, payload: bytes) -> None:
        if defect == "no-close-answer":
            return
        code: int | None = None
        if len(payload) == 1:
            raise _Fail(1002)
        if payload:
            code = struct.unpack("!H", payload[:2])[0]
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise _Fail(1002) from None
            if not _valid_close_code(code) and defect != "accepts-invalid-close-codes":
                raise _Fail(1002)
        writer.write(_close(code))
        if defect == "data-after-close":
            writer.write(_frame(0x1, b"after my close"))
        await writer.drain()

    return serve


def _unmask(payload: bytes, key: bytes) -> bytes:
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big")


@contextlib.contextmanager
def broken_server(defect: str | None) -> Iterator[str]:
    """Serve the echo with ``defect`` (None: conforming); yields ``ws://127.0.0.1:PORT/``."""
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}")
    with raw_server(handler(defect)) as address:
        yield f"ws://{address}/"
