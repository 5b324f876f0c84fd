"""WebSocket frames as values, written as any bytes a client may send and read as the server
sent them (RFC 6455 §5.2), with no sockets: the rfc6455 suite's codec.

A conforming library refuses to produce an invalid frame (RSV bits, a reserved opcode, an
unmasked client frame, a control frame over 125 bytes), and those are what the rfc6455 suite
sends, so frames are built here byte by byte. :class:`FrameReader` parses what a server sends
without judging it beyond the framing itself (the checks judge), within a size bound.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from wscheck.core.limits import clip
from wscheck.errors import WscheckError

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "FrameError",
    "FrameReader",
    "close_payload",
    "describe",
    "opcode_name",
    "parse_close",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

_NAMES = {CONTINUATION: "CONT", TEXT: "TEXT", BINARY: "BINARY", CLOSE: "CLOSE", PING: "PING",
          PONG: "PONG"}

#: How many payload bytes of a frame a trace line shows.
TRACE_PAYLOAD = 40


def opcode_name(opcode: int) -> str:
    """``TEXT``, ``PING``..., or ``OP0x3`` for a reserved opcode."""
    return _NAMES.get(opcode, f"OP{opcode:#x}")


class FrameError(WscheckError):
    """The server's bytes are not a frame (a length over the bound, a 64-bit length with its
    top bit set)."""


@dataclass(frozen=True)
class Frame:
    """One frame. ``rsv`` holds the three reserved bits as a number (RSV1 = 4, RSV2 = 2,
    RSV3 = 1); ``masked`` says whether the frame is (or was) masked; a built frame's ``length``
    may lie about its payload (None: the true length)."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv: int = 0
    masked: bool = True
    length: int | None = field(default=None, compare=False)

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8

    def encode(self, mask_key: bytes | None = None) -> bytes:
        """The frame's bytes; a masked frame uses ``mask_key`` (4 bytes; random if None)."""
        head = bytearray([(0x80 if self.fin else 0) | (self.rsv & 7) << 4 | (self.opcode & 0xF)])
        length = len(self.payload) if self.length is None else self.length
        mask_bit = 0x80 if self.masked else 0
        if length <= 125:
            head.append(mask_bit | length)
        elif length <= 0xFFFF:
            head.append(mask_bit | 126)
            head += struct.pack("!H", length)
        else:
            head.append(mask_bit | 127)
            head += struct.pack("!Q", length)
        if not self.masked:
            return bytes(head) + self.payload
        key = mask_key if mask_key is not None else os.urandom(4)
        return bytes(head) + key + mask(self.payload, key)


def mask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the repeated 4-byte ``key`` (RFC 6455 §5.3): masking and unmasking."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big")


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """A close frame's payload: the code (2 bytes) and the reason; nothing for None."""
    return b"" if code is None else struct.pack("!H", code) + reason


def parse_close(payload: bytes) -> tuple[int | None, bytes]:
    """A close payload's code (None when empty or one byte) and reason bytes."""
    if len(payload) < 2:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def describe(frame: Frame, *, from_client: bool = True) -> str:
    """One line for a trace: ``TEXT fin rsv=100 125 bytes 'aaa…'``. Masking is said only when
    it is wrong: a client frame ``unmasked``, a server frame (``from_client=False``)
    ``masked``."""
    parts = [opcode_name(frame.opcode), "fin" if frame.fin else "no-fin"]
    if frame.rsv:
        parts.append(f"rsv={frame.rsv:03b}")
    if frame.masked != from_client:
        parts.append("unmasked" if from_client else "masked")
    if frame.length is not None and frame.length != len(frame.payload):
        parts.append(f"length field {frame.length}")
    parts.append(f"{len(frame.payload)} bytes")
    if frame.opcode == CLOSE:
        code, reason = parse_close(frame.payload)
        if code is not None:
            parts.append(f"code {code}")
        if reason:
            parts.append("reason " + repr(reason[:TRACE_PAYLOAD]))
    elif frame.payload:
        head = frame.payload[:TRACE_PAYLOAD]
        try:
            shown = repr(head.decode("utf-8"))
        except UnicodeDecodeError:
            shown = head.hex()
        parts.append(clip(shown) + ("…" if len(frame.payload) > TRACE_PAYLOAD else ""))
    return " ".join(parts)


class FrameReader:
    """Frames parsed from a byte stream, as sent: :meth:`feed` bytes, take whole frames.

    Only the framing is checked (a frame longer than ``max_size`` bytes, a 64-bit length with
    its most significant bit set are a :class:`FrameError`); masking, reserved bits and
    opcodes are kept for the checks to judge. A masked frame is unmasked.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Take ``data``; returns the frames it completed, in order."""
        self._buffer += data
        frames: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        masked = bool(second & 0x80)
        length = second & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack_from("!H", buf, 2)[0]
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack_from("!Q", buf, 2)[0]
            offset = 10
            if length >> 63:
                raise FrameError("a 64-bit payload length with its most significant bit set")
        if length > self.max_size:
            raise FrameError(f"a frame of {length} bytes, over the client's bound of "
                             f"{self.max_size}")
        key = b""
        if masked:
            if len(buf) < offset + 4:
                return None
            key = bytes(buf[offset:offset + 4])
            offset += 4
        if len(buf) < offset + length:
            return None
        payload = bytes(buf[offset:offset + length])
        del buf[:offset + length]
        if masked:
            payload = mask(payload, key)
        return Frame(first & 0x0F, payload, fin=bool(first & 0x80), rsv=(first >> 4) & 7,
                     masked=masked)
