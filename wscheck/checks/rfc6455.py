"""The rfc6455 suite: a WebSocket server's handling of what a client sends (RFC 6455), one
case per check, in the classes of Autobahn|Testsuite's server cases.

The endpoint under test is the URL itself and must echo every text and binary message it
receives (Autobahn's convention: an echo endpoint; docs/rfc6455.md says why the chat's
reference app is not one). Each case writes frames byte by byte through the raw client
(:class:`wscheck.drivers.raw.RawConnection`, reached as ``ctx.raw``), reads what the server
sends and judges it; its verdict carries the frames both ways as its trace. Verdicts in
Autobahn's words: OK is a pass, NON-STRICT a warning with its reason (``non_strict``),
INFORMATIONAL a fact that never changes the exit status, UNIMPLEMENTED not applicable.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from wscheck.core.frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Frame,
    close_payload,
    opcode_name,
    parse_close,
)
from wscheck.run.registry import RFC6455, CheckFn, Context, Inconclusive, Level, Verdict

if TYPE_CHECKING:  # types only: no check module imports a driver at run time
    from wscheck.drivers.raw import End, RawConnection

__all__: list[str] = []

#: Fail the WebSocket Connection: a close frame (1002, protocol error) or a TCP close.
FAIL = "RFC 6455 §7.1.7"
#: Messages a case takes before the failure it waits for (a server streaming messages
#: instead of failing the connection is judged after this many).
_ECHOES_BEFORE_FAILURE = 16
ECHO_PRECONDITION = ("the endpoint echoes each text and binary message (an echo endpoint), or "
                     "is the chat protocol's echo endpoint, answering as the spec says")


def _register(id: str, level: Level, line: str, description: str, fn: CheckFn,
              precondition: str = ECHO_PRECONDITION) -> None:
    RFC6455.check(f"rfc6455.{id}", level, line, description, (), precondition)(fn)


@contextlib.asynccontextmanager
async def _opened(ctx: Context, extensions: Sequence[str] = ()) -> AsyncIterator[RawConnection]:
    """A connection to the endpoint, let go on the way out; a refused handshake makes the
    case inconclusive (what it judges never happened)."""
    if ctx.raw is None:
        raise Inconclusive("the rfc6455 suite needs a network target (--wscheck-url), or an "
                           "app it serves itself", unobservable=True)
    conn = await ctx.raw.open(extensions)
    if isinstance(conn, str):
        raise Inconclusive(f"the server did not accept the connection: {conn}")
    try:
        yield conn
    finally:
        await conn.aclose()


def _is_end(got: object) -> bool:
    return not isinstance(got, (Frame, tuple))


def _shown(got: tuple[int, bytes] | Frame | End) -> str:
    if isinstance(got, tuple):
        return f"a {opcode_name(got[0])} message of {len(got[1])} bytes"
    if isinstance(got, Frame):
        if got.opcode == CLOSE:
            code, _ = parse_close(got.payload)
            return f"a close frame ({code if code is not None else 'no code'})"
        return f"a {opcode_name(got.opcode)} frame of {len(got.payload)} bytes"
    return str(got)


async def _goodbye(conn: RawConnection, got: object = None) -> None:
    """End a case politely: answer the server's close, or start one, without judging."""
    if isinstance(got, Frame) and got.opcode == CLOSE:
        code, _ = parse_close(got.payload)
        await conn.send(Frame(CLOSE, close_payload(code if code is not None else 1000)))
        return
    if _is_end(got):
        return
    await conn.send(Frame(CLOSE, close_payload(1000)))
    with contextlib.suppress(Exception):
        await conn.receive(min(conn.timeout, 0.5))


def _verdict(conn: RawConnection, problem: str | None = None, **fields: object) -> Verdict:
    return Verdict(problem=problem, trace=conn.trace, **fields)  # type: ignore[arg-type]


#: Text messages up to this many bytes a chat endpoint must answer; a longer one it may refuse
#: with 1009 (docs/protocol.md, ``/ws`` 2).
_CHAT_ECHOED = 65536


def _answers(ctx: Context, opcode: int, payload: bytes) -> list[tuple[int, bytes] | int]:
    """What the endpoint may answer a whole message with: the message itself (an echo
    endpoint); on the chat protocol's echo endpoint (``ctx.raw.mode == "chat"``), the spec's
    reply to a text, or a close with a code (binary: the spec's binary close code; a text over
    64 KiB: 1009 allowed)."""
    echo = ctx.spec.echo
    if ctx.raw is None or ctx.raw.mode != "chat" or echo is None:
        return [(opcode, payload)]
    if opcode != TEXT:
        return [echo.binary_close_code]
    out: list[tuple[int, bytes] | int] = [
        (TEXT, echo.render_reply(payload.decode("utf-8")).encode("utf-8"))]
    if len(payload) > _CHAT_ECHOED:
        out.append(1009)
    return out


async def _expect_echo(conn: RawConnection, opcode: int, payload: bytes,
                       ctx: Context | None = None) -> str | None:
    """None when the next message is ``payload`` as ``opcode`` (the echo; on a chat endpoint,
    one of :func:`_answers`); else what came."""
    answers = [(opcode, payload)] if ctx is None else _answers(ctx, opcode, payload)
    got = await conn.message()
    if got in answers:
        return None
    if isinstance(got, Frame) and got.opcode == CLOSE and parse_close(got.payload)[0] in answers:
        await _goodbye(conn, got)
        return None
    await _goodbye(conn, got)
    if isinstance(got, tuple):
        return (f"sent a {opcode_name(opcode)} message of {len(payload)} bytes, got back a "
                f"different {opcode_name(got[0])} message of {len(got[1])} bytes")
    return (f"sent a {opcode_name(opcode)} message of {len(payload)} bytes and expected it "
            f"echoed, got {_shown(got)}")


async def _expect_failed(conn: RawConnection, what: str, codes: tuple[int, ...] = (1002,),
                         section: str = FAIL, accepted: tuple[int, ...] = ()) -> Verdict:
    """The server must fail the connection: a close frame with one of ``codes`` or a TCP
    close passes, a close with a code of ``accepted`` (what answers the frame as if it were
    valid) fails, another close code is NON-STRICT, anything that keeps the connection open
    (echoes, silence) fails. Messages echoed before the failure are allowed."""
    for _ in range(_ECHOES_BEFORE_FAILURE):
        got = await conn.message()
        if not isinstance(got, tuple):
            break  # else an earlier, valid message echoed: allowed before the failure
    else:
        await _goodbye(conn)
        return _verdict(conn, f"after {what} the server kept sending messages "
                        f"({_ECHOES_BEFORE_FAILURE} of them) instead of failing the "
                        f"connection ({section})")
    wanted = " or ".join(str(c) for c in codes)
    if isinstance(got, Frame) and got.opcode == CLOSE:
        code, _ = parse_close(got.payload)
        await _goodbye(conn, got)
        if code in codes:
            return _verdict(conn)
        if code in accepted:
            return _verdict(conn, f"the server answered {what} with a close of {code}, as if "
                            f"it were valid, instead of failing the connection ({section})")
        return _verdict(conn, f"after {what} the server closed with "
                        f"{code if code is not None else 'no code'}, where {wanted} names the "
                        f"fault (RFC 6455 §7.4.1)", non_strict=True)
    if isinstance(got, Frame):
        await _goodbye(conn)
        return _verdict(conn, f"after {what} the server sent {_shown(got)} instead of failing "
                        f"the connection ({section})")
    if got.kind in ("eof", "reset"):
        return _verdict(conn, notes=(f"the server failed the connection without a close "
                                     f"frame ({got}), which {FAIL} allows",))
    if got.kind == "silence":
        await _goodbye(conn)
        return _verdict(conn, f"after {what} the server kept the connection open "
                        f"({conn.timeout:g}s without a close) instead of failing it ({section})")
    return _verdict(conn, f"after {what} the server broke the framing: {got}")


# --- framing: text and binary of every length class (RFC 6455 §5.2, §5.6) ----------------------

def _echo_case(opcode: int, payload: bytes) -> CheckFn:
    async def run(ctx: Context) -> Verdict:
        async with _opened(ctx) as conn:
            await conn.send(Frame(opcode, payload))
            problem = await _expect_echo(conn, opcode, payload, ctx)
            if problem is None:
                await _goodbye(conn)
            return _verdict(conn, problem)
    return run


#: Binary payloads are bytes 0..250 over and over: built by repetition, since a byte at a
#: time costs every import of the kit a fifth of a second for the 1 MiB frame.
_CYCLE = bytes(range(251))
_SIZES = {0: "the empty message", 125: "the largest 7-bit length",
          126: "the smallest 16-bit length", 65535: "the largest 16-bit length",
          65536: "the smallest 64-bit length", 1048576: "a 1 MiB frame"}
for _kind, _op in (("text", TEXT), ("binary", BINARY)):
    for _size, _why in _SIZES.items():
        _register(f"framing.{_kind}-{_size}", "MUST", "RFC 6455 §5.2",
                  f"a {_kind} message of {_size} bytes in one frame ({_why}) is echoed whole",
                  _echo_case(_op, (b"*" * _size) if _op == TEXT
                             else _CYCLE * (_size // 251) + _CYCLE[:_size % 251]))


# --- fragmentation (RFC 6455 §5.4) --------------------------------------------------------------

def _fragments(opcode: int, parts: Sequence[bytes], inject: Frame | None = None) -> list[Frame]:
    frames = [Frame(opcode if i == 0 else CONTINUATION, part, fin=i == len(parts) - 1)
              for i, part in enumerate(parts)]
    if inject is not None:
        frames.insert(1, inject)
    return frames


def _fragmented_case(opcode: int, parts: Sequence[bytes], inject: Frame | None = None
                     ) -> CheckFn:
    whole = b"".join(parts)

    async def run(ctx: Context) -> Verdict:
        async with _opened(ctx) as conn:
            await conn.send(*_fragments(opcode, parts, inject))
            if inject is not None and inject.opcode == PING:
                got = await conn.receive()
                if not (isinstance(got, Frame) and got.opcode == PONG
                        and got.payload == inject.payload):
                    await _goodbye(conn, got)
                    return _verdict(conn, f"a ping inside a fragmented message was answered "
                                    f"with {_shown(got)}, not its pong (RFC 6455 §5.4: "
                                    "control frames may come between fragments; §5.5.2)")
            problem = await _expect_echo(conn, opcode, whole, ctx)
            if problem is None:
                await _goodbye(conn)
            return _verdict(conn, problem)
    return run


_register("fragments.text-1", "MUST", "RFC 6455 §5.4",
          "a text message in a first frame and 1 continuation is echoed as one message",
          _fragmented_case(TEXT, [b"Hello, ", b"world"]))
_register("fragments.text-9", "MUST", "RFC 6455 §5.4",
          "a text message in a first frame and 9 continuations (two of them empty) is echoed "
          "as one message", _fragmented_case(
              TEXT, [b"frag", b"", *(bytes([48 + i]) * 3 for i in range(7)), b""]))
_register("fragments.binary-3", "MUST", "RFC 6455 §5.4",
          "a binary message in a first frame and 3 continuations is echoed as one message",
          _fragmented_case(BINARY, [b"\x00\x01", b"\xfe", b"\xff" * 200, b"\x80"]))
_register("fragments.ping-inside", "MUST", "RFC 6455 §5.4",
          "a ping between the fragments of a message is answered with its pong, and the "
          "message still echoed whole", _fragmented_case(
              TEXT, [b"fragment one, ", b"fragment two"], Frame(PING, b"inside")))
_register("fragments.pong-inside", "MUST", "RFC 6455 §5.5.3",
          "an unsolicited pong between the fragments of a message is ignored and the message "
          "echoed whole", _fragmented_case(
              BINARY, [b"\x01\x02", b"\x03\x04"], Frame(PONG, b"unasked")))


def _violation_case(frames: Sequence[Frame], what: str, codes: tuple[int, ...] = (1002,),
                    section: str = FAIL, before: Sequence[Frame] = (),
                    accepted: tuple[int, ...] = ()) -> CheckFn:
    async def run(ctx: Context) -> Verdict:
        async with _opened(ctx) as conn:
            for frame in before:
                await conn.send(frame)
                problem = await _expect_echo(conn, frame.opcode, frame.payload, ctx)
                if problem is not None:
                    raise Inconclusive(f"a valid message before {what} was not echoed: "
                                       f"{problem}")
            await conn.send(*frames)
            return await _expect_failed(conn, what, codes, section, accepted)
    return run


_register("fragments.continuation-first", "MUST", "RFC 6455 §5.4",
          "a continuation frame with no message to continue fails the connection (1002 or a "
          "TCP close)", _violation_case([Frame(CONTINUATION, b"orphan")],
                                        "a continuation frame with nothing to continue"))
_register("fragments.new-message-inside", "MUST", "RFC 6455 §5.4",
          "a new text frame inside an unfinished fragmented message fails the connection",
          _violation_case([Frame(TEXT, b"first ", fin=False), Frame(TEXT, b"second")],
                          "a new message inside an unfinished one"))
_register("fragments.control-fragmented", "MUST", "RFC 6455 §5.5",
          "a fragmented ping (control frames must not be fragmented) fails the connection",
          _violation_case([Frame(PING, b"part", fin=False), Frame(CONTINUATION, b"rest")],
                          "a fragmented ping"))


# --- ping and pong (RFC 6455 §5.5.2, §5.5.3) ----------------------------------------------------

def _ping_case(payload: bytes) -> CheckFn:
    async def run(ctx: Context) -> Verdict:
        async with _opened(ctx) as conn:
            await conn.send(Frame(PING, payload))
            got = await conn.receive()
            problem = None
            if not (isinstance(got, Frame) and got.opcode == PONG and got.payload == payload):
                problem = (f"a ping of {len(payload)} bytes was answered with {_shown(got)}, "
                           "not a pong with the same payload")
            await _goodbye(conn, got if problem else None)
            return _verdict(conn, problem)
    return run


_register("ping.empty", "MUST", "RFC 6455 §5.5.2",
          "a ping without payload is answered with a pong", _ping_case(b""),
          precondition="")
_register("ping.payload", "MUST", "RFC 6455 §5.5.3",
          "a pong carries the ping's payload", _ping_case(b"Hello, ping"), precondition="")
_register("ping.binary-125", "MUST", "RFC 6455 §5.5.3",
          "a ping with 125 bytes of binary payload (the most a control frame holds) is "
          "answered with a pong carrying them", _ping_case(bytes(range(125))),
          precondition="")
_register("ping.over-125", "MUST", "RFC 6455 §5.5",
          "a ping of 126 bytes (control frames hold at most 125) fails the connection",
          _violation_case([Frame(PING, b"x" * 126)], "a ping of 126 bytes"), precondition="")


async def _unsolicited_pong(ctx: Context) -> Verdict:
    async with _opened(ctx) as conn:
        await conn.send(Frame(PONG, b"unsolicited"), Frame(TEXT, b"after the pong"))
        got = await conn.receive()
        if (isinstance(got, Frame) and got.opcode == TEXT and got.fin
                and (TEXT, got.payload) in _answers(ctx, TEXT, b"after the pong")):
            await _goodbye(conn)
            return _verdict(conn)
        await _goodbye(conn, got)
        return _verdict(conn, f"after an unsolicited pong and a text message the server sent "
                        f"{_shown(got)}, not the echo (an unsolicited pong needs no answer)")

_register("ping.unsolicited-pong", "MUST", "RFC 6455 §5.5.3",
          "an unsolicited pong is ignored: the next message is echoed, nothing else is sent",
          _unsolicited_pong)


# --- reserved bits, opcodes, masking (RFC 6455 §5.1, §5.2) -------------------------------------

for _name, _frame in (("rsv1-text", Frame(TEXT, b"rsv1", rsv=4)),
                      ("rsv2-text", Frame(TEXT, b"rsv2", rsv=2)),
                      ("rsv3-binary", Frame(BINARY, b"rsv3", rsv=1)),
                      ("rsv-ping", Frame(PING, b"all three", rsv=7))):
    _register(f"rsv.{_name}", "MUST", "RFC 6455 §5.2",
              f"a {opcode_name(_frame.opcode)} frame with reserved bits {_frame.rsv:03b} and "
              "no extension agreed fails the connection",
              _violation_case([_frame], f"a frame with reserved bits {_frame.rsv:03b}",
                              section="RFC 6455 §5.2"), precondition="")
for _op in (0x3, 0x7, 0xB, 0xF):
    _register(f"opcode.reserved-{_op:x}", "MUST", "RFC 6455 §5.2",
              f"a frame with the reserved {'data' if _op < 8 else 'control'} opcode {_op:#x} "
              "fails the connection",
              _violation_case([Frame(_op, b"reserved")], f"a frame with opcode {_op:#x}",
                              section="RFC 6455 §5.2"), precondition="")
_register("mask.unmasked", "MUST", "RFC 6455 §5.1",
          "an unmasked text frame from the client fails the connection (the server must close "
          "it)", _violation_case([Frame(TEXT, b"not masked", masked=False)],
                                 "an unmasked frame", section="RFC 6455 §5.1"),
          precondition="")


# --- UTF-8 (RFC 6455 §5.6, §8.1) ----------------------------------------------------------------

_VALID = {"1-byte": "plain ASCII", "2-byte": "κόσμε ü é ß", "3-byte": "€ ह 中文 \ufffd",
          "4-byte": "𝄞 😀 \U0010ffff", "mixed": "Hello-µ@ßöäüàá-UTF-8!! 𝄞 €"}
for _name, _text in _VALID.items():
    _register(f"utf8.valid-{_name}", "MUST", "RFC 6455 §5.6",
              f"valid UTF-8 text with {_name} sequences ({_text!r}) is echoed whole",
              _echo_case(TEXT, _text.encode()))
_SPLIT = "κόσμε 𝄞".encode()
_register("utf8.valid-split", "MUST", "RFC 6455 §5.6",
          "valid UTF-8 split inside code points across frames is echoed whole (text is "
          "validated per message)", _fragmented_case(
              TEXT, [_SPLIT[:1], _SPLIT[1:3], _SPLIT[3:8], _SPLIT[8:]]))

_INVALID = {
    "lone-continuation": (b"\x80", "a continuation byte with no lead"),
    "truncated": (b"abc\xe2\x82", "a 3-byte sequence cut short at the message's end"),
    "overlong-2": (b"\xc0\xaf", "an overlong 2-byte form of '/'"),
    "overlong-3": (b"\xe0\x80\xaf", "an overlong 3-byte form of '/'"),
    "surrogate-high": (b"\xed\xa0\x80", "the UTF-16 surrogate U+D800"),
    "surrogate-low": (b"\xed\xbf\xbf", "the UTF-16 surrogate U+DFFF"),
    "above-10ffff": (b"\xf4\x90\x80\x80", "U+110000, above the last code point"),
    "byte-ff": (b"ok \xff", "the byte 0xFF, never in UTF-8"),
}
for _name, (_bytes, _why) in _INVALID.items():
    _register(f"utf8.invalid-{_name}", "MUST", "RFC 6455 §8.1",
              f"a text message holding {_why} fails the connection with 1007",
              _violation_case([Frame(TEXT, _bytes)], f"invalid UTF-8 ({_why})", (1007,),
                              "RFC 6455 §8.1"), precondition="")
_register("utf8.invalid-split", "MUST", "RFC 6455 §8.1",
          "a text message whose fragments join into invalid UTF-8 (a surrogate split across "
          "frames) fails the connection with 1007",
          _violation_case([Frame(TEXT, "κόσμε".encode() + b"\xed", fin=False),
                           Frame(CONTINUATION, b"\xa0\x80edited")],
                          "a surrogate split across fragments", (1007,), "RFC 6455 §8.1"),
          precondition="")


async def _fail_fast(ctx: Context) -> Verdict:
    """Invalid UTF-8 in the first fragment: a server that validates per frame fails at once
    (pass); one that validates the whole message fails once it ends (INFORMATIONAL)."""
    async with _opened(ctx) as conn:
        await conn.send(Frame(TEXT, "κόσμε".encode() + b"\xed\xa0\x80", fin=False))
        early = await conn.receive(min(conn.timeout, 1.0))
        if isinstance(early, Frame) and early.opcode == CLOSE:
            code, _ = parse_close(early.payload)
            await _goodbye(conn, early)
            if code == 1007:
                return _verdict(conn)
            return _verdict(conn, f"after invalid UTF-8 the server closed with {code}, where "
                            "1007 names the fault (RFC 6455 §7.4.1)", non_strict=True)
        if not isinstance(early, Frame) and early.kind in ("eof", "reset"):
            return _verdict(conn, notes=("the server failed the connection at once without a "
                                         f"close frame, which {FAIL} allows",))
        await conn.send(Frame(CONTINUATION, b"edited", fin=False),
                        Frame(CONTINUATION, b"", fin=True))
        late = await _expect_failed(conn, "invalid UTF-8 in a fragmented message", (1007,),
                                    "RFC 6455 §8.1")
        if late.problem is None:
            return Verdict(trace=late.trace, notes=late.notes, informational=(
                "the server failed the connection only once the message ended, not at the "
                "first invalid fragment: it validates per message (allowed; slower to fail)"))
        return late

_register("utf8.fail-fast", "MUST", "RFC 6455 §8.1",
          "invalid UTF-8 in the first fragment of a text message fails the connection, "
          "at once (pass) or once the message ends (informational)", _fail_fast,
          precondition="")


# --- the closing handshake (RFC 6455 §5.5.1, §7.1, §7.4) --------------------------------------

def _close_case(payload: bytes, echoed: int | None) -> CheckFn:
    """Send a close with ``payload``; the server must answer with a close; the code
    ``echoed`` back is OK, another code NON-STRICT."""
    async def run(ctx: Context) -> Verdict:
        async with _opened(ctx) as conn:
            await conn.send(Frame(CLOSE, payload))
            got = await conn.receive()
            for _ in range(_ECHOES_BEFORE_FAILURE):  # pings of its own, bounded
                if not (isinstance(got, Frame) and got.opcode in (PING, PONG)):
                    break
                got = await conn.receive()
            if not (isinstance(got, Frame) and got.opcode == CLOSE):
                return _verdict(conn, f"the client's close was answered with {_shown(got)}, "
                                "not a close frame (RFC 6455 §5.5.1: an endpoint that "
                                "receives a close must send one)")
            code, _ = parse_close(got.payload)
            if echoed is not None and code != echoed:
                return _verdict(conn, f"the close answer carries {code}, not the client's "
                                f"{echoed} (RFC 6455 §5.5.1: typically echoed)",
                                non_strict=True)
            if echoed is None and code not in (None, 1000):
                return _verdict(conn, f"an empty close was answered with {code}, not an empty "
                                "close or 1000", non_strict=True)
            return _verdict(conn)
    return run


_register("close.answered", "MUST", "RFC 6455 §5.5.1",
          "a close (1000) is answered with a close echoing its code",
          _close_case(close_payload(1000, b"bye"), 1000), precondition="")
_register("close.empty", "MUST", "RFC 6455 §5.5.1",
          "a close without payload is answered with a close (empty, or 1000)",
          _close_case(b"", None), precondition="")
_register("close.reason-123", "MUST", "RFC 6455 §5.5.1",
          "a close with a 123-byte UTF-8 reason (the most a close frame holds) is answered",
          _close_case(close_payload(1000, b"r" * 123), 1000), precondition="")
for _code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
    _register(f"close.valid-{_code}", "MUST", "RFC 6455 §7.4.1",
              f"a close with the valid code {_code} is answered with a close echoing it",
              _close_case(close_payload(_code), _code), precondition="")
for _code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    _register(f"close.invalid-{_code}", "MUST", "RFC 6455 §7.4.1",
              f"a close with the code {_code}, which no endpoint may send, fails the "
              "connection (1002 or a TCP close)",
              _violation_case([Frame(CLOSE, close_payload(_code))],
                              f"a close with the invalid code {_code}",
                              section="RFC 6455 §7.4.1", accepted=(_code, 1000)),
              precondition="")
_register("close.one-byte", "MUST", "RFC 6455 §5.5.1",
          "a close whose payload is one byte (no room for a code) fails the connection",
          _violation_case([Frame(CLOSE, b"\x03")], "a close with a one-byte payload",
                          section="RFC 6455 §5.5.1", accepted=(1000,)), precondition="")
_register("close.reason-invalid-utf8", "MUST", "RFC 6455 §5.5.1",
          "a close whose reason is invalid UTF-8 fails the connection (1002 or 1007)",
          _violation_case([Frame(CLOSE, close_payload(1000, b"bad \xed\xa0\x80"))],
                          "a close with an invalid UTF-8 reason", (1002, 1007),
                          "RFC 6455 §5.5.1", accepted=(1000,)), precondition="")


async def _nothing_after(ctx: Context) -> Verdict:
    """After the client's close, frames it sends are ignored: its answer is a close, and
    nothing follows the server's close."""
    async with _opened(ctx) as conn:
        await conn.send(Frame(CLOSE, close_payload(1000)), Frame(TEXT, b"after the close"),
                        Frame(PING, b"after the close"))
        before: list[str] = []
        for _ in range(_ECHOES_BEFORE_FAILURE):
            got = await conn.receive()
            if isinstance(got, Frame) and got.opcode == CLOSE:
                break
            if not isinstance(got, Frame):
                return _verdict(conn, f"the client's close was answered with {got}, not a "
                                "close frame (RFC 6455 §5.5.1)")
            before.append(_shown(got))
        else:
            return _verdict(conn, f"the client's close was answered with "
                            f"{_ECHOES_BEFORE_FAILURE} frames and no close "
                            f"({', '.join(before[:3])}, ...) (RFC 6455 §5.5.1)")
        after = await conn.receive()
        if isinstance(after, Frame):
            return _verdict(conn, f"after its close frame the server sent {_shown(after)} "
                            "(RFC 6455 §5.5.1: no more data frames after a close)")
        if before:
            return _verdict(conn, f"the server answered frames the client sent after its close "
                            f"({', '.join(before)}) before closing", non_strict=True)
        return _verdict(conn)

_register("close.nothing-after", "MUST", "RFC 6455 §5.5.1",
          "frames sent after the client's close are not answered, and nothing follows the "
          "server's close", _nothing_after, precondition="")


async def _tcp_closed(ctx: Context) -> Verdict:
    async with _opened(ctx) as conn:
        await conn.send(Frame(CLOSE, close_payload(1000)))
        got = await conn.receive()
        if not (isinstance(got, Frame) and got.opcode == CLOSE):
            raise Inconclusive(f"the client's close was answered with {_shown(got)}, not a "
                               "close frame (close.answered judges that)")
        end = await conn.wait_closed()
        if end.kind in ("eof", "reset"):
            return _verdict(conn)
        return _verdict(conn, f"after the closing handshake the server left the TCP "
                        f"connection open ({end}): the server should close it first "
                        "(RFC 6455 §7.1.1)")

_register("close.tcp-by-server", "SHOULD", "RFC 6455 §7.1.1",
          "after the closing handshake the server closes the TCP connection", _tcp_closed,
          precondition="")


# --- permessage-deflate (RFC 7692): UNIMPLEMENTED is not applicable -----------------------------

async def _deflate(ctx: Context) -> Verdict:
    async with _opened(ctx, ["permessage-deflate"]) as conn:
        if "permessage-deflate" not in conn.extensions.lower():
            return _verdict(conn, not_applicable="the server did not agree to "
                            "permessage-deflate (UNIMPLEMENTED)")
        text = b"compressed " * 20
        squeeze = zlib.compressobj(wbits=-15)
        body = squeeze.compress(text) + squeeze.flush(zlib.Z_SYNC_FLUSH)
        await conn.send(Frame(TEXT, body[:-4], rsv=4))
        got = await conn.receive()
        if isinstance(got, Frame) and got.opcode == TEXT and got.fin:
            data = got.payload
            if got.rsv & 4:
                data = zlib.decompressobj(wbits=-15).decompress(data + b"\x00\x00\xff\xff")
            if (TEXT, data) in _answers(ctx, TEXT, text):
                await _goodbye(conn)
                return _verdict(conn)
        await _goodbye(conn, got)
        return _verdict(conn, f"a compressed text message was answered with {_shown(got)}, "
                        "not its echo (RFC 7692 §7.2)")

_register("deflate.echo", "MUST", "RFC 7692 §7.2",
          "with permessage-deflate agreed, a compressed message is echoed (not applicable "
          "when the server does not agree to it)", _deflate)


# --- limits: INFORMATIONAL timings --------------------------------------------------------------

def _timed_case(frames_of: int, size: int) -> CheckFn:
    payload = b"x" * size

    async def run(ctx: Context) -> Verdict:
        async with _opened(ctx) as conn:
            started = time.monotonic()
            step = size // frames_of
            parts = [payload[i:i + step] for i in range(0, size, step)]
            frames = _fragments(BINARY, parts)
            await conn.send(*frames, shown=f"BINARY {size} bytes in {len(frames)} frames")
            got = await conn.message(max(conn.timeout, 10.0))
            took = time.monotonic() - started
            await _goodbye(conn, got if not isinstance(got, tuple) else None)
            answers = _answers(ctx, BINARY, payload)
            if got in answers:
                return _verdict(conn, informational=f"echoed {size} bytes sent in "
                                f"{len(frames)} frames in {took:.3f}s")
            if (isinstance(got, Frame) and got.opcode == CLOSE
                    and parse_close(got.payload)[0] in answers):
                return _verdict(conn, informational=f"{size} bytes in {len(frames)} frames "
                                f"were answered as the spec says, {_shown(got)}, after "
                                f"{took:.3f}s")
            return _verdict(conn, informational=f"{size} bytes in {len(frames)} frames were "
                            f"answered with {_shown(got)} after {took:.3f}s, not their echo (a "
                            "limit of its own, which RFC 6455 §10.4 allows, or a fault another "
                            "case names)")
    return run


_register("limits.message-16mib", "SHOULD", "RFC 6455 §10.4",
          "a 16 MiB binary message in one frame: echoed, and how long it took "
          "(informational)", _timed_case(1, 16 * 1024 * 1024))
_register("limits.many-frames", "SHOULD", "RFC 6455 §10.4",
          "a 1 MiB binary message in 4096 frames of 256 bytes: echoed, and how long it took "
          "(informational)", _timed_case(4096, 1024 * 1024))
