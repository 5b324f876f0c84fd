"""Checks of the echo endpoint (protocol ``/ws`` lines 1-3 and 5)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from wscheck.checks import Context, Verdict, check, compare, served
from wscheck.drivers.base import Connection
from wscheck.events import Accepted, Conversation, Event, SendText, Text
from wscheck.model import ModelConnection
from wscheck.runner import Observation, drain
from wscheck.spec import EchoSpec

LONG_MESSAGE_CHARS = 64 * 1024


def _echo(ctx: Context) -> EchoSpec:
    assert ctx.spec.echo is not None
    return ctx.spec.echo


def ordinary(ctx: Context, messages: Iterable[str]) -> list[str]:
    """The messages minus the bye word, so that echo checks never end the chat by accident."""
    bye = ctx.spec.echo.bye if ctx.spec.echo else None
    return [m for m in messages if m != bye]


def lockstep(ctx: Context, *messages: str) -> Conversation:
    return Conversation.of(_echo(ctx).url_path(), *ordinary(ctx, messages))


@check("echo.accept", "MUST", "/ws 1", "the echo endpoint accepts a handshake without credentials",
       needs=["echo"])
async def accept(ctx: Context) -> Verdict:
    conn = await ctx.driver.connect(_echo(ctx).url_path())
    try:
        if conn.handshake != Accepted():
            conv = Conversation.of(_echo(ctx).url_path())
            obs = Observation(conv, (Accepted(),), (conn.handshake,))
            return Verdict("the handshake was not accepted", obs)
        return Verdict()
    finally:
        await conn.close()


@check("echo.exact", "MUST", "/ws 2",
       "a text message comes back once, exactly, after the reply prefix", needs=["echo"])
async def exact(ctx: Context) -> Verdict:
    return await compare(
        ctx, [lockstep(ctx, "hello"), lockstep(ctx, "{message} {0} %s {{}}", "second")],
        problem="the reply is not exactly the prefix followed by the message")


@check("echo.empty", "MUST", "/ws 2", "the empty message is echoed as the bare prefix",
       needs=["echo"])
async def empty(ctx: Context) -> Verdict:
    return await compare(ctx, [lockstep(ctx, "", "after empty")],
                         problem="the empty message is not echoed as the bare prefix")


@check("echo.whitespace", "MUST", "/ws 2",
       "leading, trailing and inner whitespace are kept, nothing is trimmed", needs=["echo"])
async def whitespace(ctx: Context) -> Verdict:
    return await compare(
        ctx, [lockstep(ctx, " ", "  padded  ", "\ttab", "trailing ", " leading", "in  side")],
        problem="whitespace was trimmed or changed")


@check("echo.newlines", "MUST", "/ws 2", "newlines (\\n, \\r\\n, \\r) are kept", needs=["echo"])
async def newlines(ctx: Context) -> Verdict:
    return await compare(
        ctx, [lockstep(ctx, "line one\nline two", "crlf\r\nend", "\n", "cr\rend", "end\n")],
        problem="newlines were dropped or changed")


@check("echo.unicode", "MUST", "/ws 2",
       "any Unicode text comes back unchanged: scripts, emoji, combining marks, RTL, controls",
       needs=["echo"])
async def unicode(ctx: Context) -> Verdict:
    samples = [
        "héllo wörld",
        "你好,世界",
        "Привет мир",
        "مرحبا بالعالم",
        "🙂👍🏽👨‍👩‍👧‍👦🇺🇳",
        "e\u0301 n\u0303 (combining)",
        "\u202eRTL override\u202c",
        "nul\x00inside",
        "ctrl \x01\x1b[31m\x7f",
        "\ufeffbom and \u200bzero width",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral",
    ]
    return await compare(ctx, [lockstep(ctx, *samples)],
                         problem="a non-ASCII or control character was changed")


@check("echo.long", "MUST", "/ws 2", "a 64 KiB message comes back whole", needs=["echo"])
async def long(ctx: Context) -> Verdict:
    unit = "0123456789abcdef" * 3 + "é你🙂\n"
    body = (unit * (LONG_MESSAGE_CHARS // len(unit) + 1))[:LONG_MESSAGE_CHARS]
    return await compare(ctx, [lockstep(ctx, body, "after long")],
                         problem="a long message was truncated or changed")


@check("echo.pipelined", "MUST", "/ws 2",
       "many messages sent before reading any reply are all answered, in order", needs=["echo"])
async def pipelined(ctx: Context) -> Verdict:
    messages = [f"pipelined message {i}" for i in range(50)]
    conv = Conversation.of(_echo(ctx).url_path(), *ordinary(ctx, messages), pipelined=True)
    return await compare(ctx, [conv], problem="pipelined messages were lost or reordered")


@check("echo.stays-open", "MUST", "/ws 3",
       "the connection stays open after an echo and keeps answering", needs=["echo"])
async def stays_open(ctx: Context) -> Verdict:
    messages = [f"message {i}" for i in range(10)]
    return await compare(ctx, [lockstep(ctx, *messages)],
                         problem="the server stopped answering or closed after an echo")


@check("echo.no-unsolicited", "MUST", "/ws 3",
       "the server sends nothing it was not asked for: no welcome, no heartbeat text",
       needs=["echo"])
async def no_unsolicited(ctx: Context) -> Verdict:
    return await compare(ctx, [lockstep(ctx), lockstep(ctx, "just one")],
                         problem="the server sent a message nobody asked for")


@check("isolation.concurrent", "MUST", "/ws 5, /item/ws 3",
       "with several clients interleaved, each gets exactly its own replies",
       needs=["echo"])
async def concurrent(ctx: Context) -> Verdict:
    clients, rounds = 6, 5
    path = _echo(ctx).url_path()
    convs = [
        Conversation.of(path, *ordinary(ctx, [f"client {c} round {r}" for r in range(rounds)]))
        for c in range(clients)
    ]
    if ctx.spec.auth is not None:
        auth = ctx.spec.auth
        convs += [
            Conversation.of(auth.url_path(), *[f"auth client {c} round {r}" for r in range(rounds)],
                            query={auth.token: f"token-{c}"})
            for c in range(3)
        ]
    observations = await interleave(ctx, convs)
    for obs in observations:
        if not served(obs):
            return Verdict("a client was not served at all, so isolation cannot be shown", obs)
    # Only cross-talk is this check's business: a reply meant for another client. Other
    # defects (wrong texts, refusals) make other checks fail, each for its own reason.
    for i, obs in enumerate(observations):
        others = {e for j, o in enumerate(observations) if j != i for e in o.expected
                  if isinstance(e, Text)}
        for event in obs.observed:
            if isinstance(event, Text) and event not in obs.expected and event in others:
                return Verdict("a client got a reply meant for another client", obs)
    return Verdict()


async def interleave(ctx: Context, conversations: list[Conversation]) -> list[Observation]:
    """Run lock-step text conversations side by side: every client sends its n-th message,
    then every client reads its replies, round after round."""
    models = [ModelConnection(ctx.spec, c) for c in conversations]
    expected = [list(m.open()) for m in models]
    conns = await asyncio.gather(
        *(ctx.driver.connect(c.path, c.query, c.cookies) for c in conversations))
    observed = [[c.handshake] for c in conns]
    try:
        for i in range(max(len(c.actions) for c in conversations)):
            counts = []
            for conv, model, conn, exp in zip(conversations, models, conns, expected):
                action = conv.actions[i] if i < len(conv.actions) else None
                replies = model.step(action) if action is not None else ()
                exp.extend(replies)
                counts.append(len(replies))
                if isinstance(action, SendText):
                    await conn.send_text(action.text)
            # Every client reads at once: a silent server costs one timeout a round, not one
            # a client.
            await asyncio.gather(*(_read_replies(conn, got, n)
                                   for conn, got, n in zip(conns, observed, counts)))
        await asyncio.gather(*(drain(conn, got) for conn, got in zip(conns, observed)
                               if isinstance(got[-1], (Accepted, Text))))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return [Observation(c, tuple(e), tuple(o)) for c, e, o in zip(conversations, expected,
                                                                  observed)]


async def _read_replies(conn: Connection, got: list[Event], count: int) -> None:
    """Read up to ``count`` replies into ``got``, stopping at anything but a text message."""
    for _ in range(count if isinstance(got[-1], (Accepted, Text)) else 0):
        event = await conn.receive()
        got.append(event)
        if not isinstance(event, Text):
            return
