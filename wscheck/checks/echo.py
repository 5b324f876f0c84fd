"""Checks of the echo endpoint (protocol ``/ws`` lines 1-3)."""

from __future__ import annotations

from wscheck.checks.judging import (
    ECHO_LET_IN,
    MESSAGE_TOO_BIG,
    all_agree,
    compare,
    diagnose_refusal,
    lockstep,
    ordinary,
    unserved,
)
from wscheck.core.events import (
    Accepted,
    Closed,
    Conversation,
    Event,
    SendText,
    Text,
    TransportError,
    describe,
)
from wscheck.core.spec import EchoSpec
from wscheck.drivers.base import SeesAppTimers
from wscheck.generation.catalogue import SYNTAX_LIKE
from wscheck.generation.strategies import LONG_MESSAGE_BYTES, utf8_text
from wscheck.model.echo import expected
from wscheck.run.conversation import Exchange, Observation, run_conversation
from wscheck.run.registry import Context, Verdict, check


def _echo(ctx: Context) -> EchoSpec:
    assert ctx.spec.echo is not None
    return ctx.spec.echo


@check("echo.accept", "MUST", "/ws 1",
       "the echo endpoint accepts a handshake without credentials, with and without the "
       "Origin header a browser sends",
       needs=["echo"],
       precondition="none: the handshake is its own line")
async def accept(ctx: Context) -> Verdict:
    # Without an Origin first: a refusal there is every plain client's, and the diagnosis
    # (no route, a refusal before accepting) is about the endpoint, not about browsers.
    for origin in (False, True):
        conv = Conversation.of(_echo(ctx).url_path(), origin=origin)
        conn = await ctx.driver.connect(conv.path, origin=origin)
        try:
            if conn.handshake != Accepted():
                obs = Observation(conv, (Accepted(),), (conn.handshake,))
                if origin:
                    return Verdict("a handshake with the Origin header a browser sends was "
                                   "not accepted (every browser sends one)", obs)
                if isinstance(conn.handshake, TransportError):  # it says what broke itself
                    return Verdict("the handshake was not accepted", obs)
                return Verdict("the handshake was not accepted", obs, notes=(
                    f"diagnosis: {diagnose_refusal(conv.path, conn.handshake)}",))
        finally:
            await conn.close()
    return Verdict()


@check("echo.exact", "MUST", "/ws 2",
       "a text message comes back once, exactly, after the reply prefix", needs=["echo"],
       precondition=ECHO_LET_IN)
async def exact(ctx: Context) -> Verdict:
    return await compare(
        ctx, [lockstep(ctx, "hello"), lockstep(ctx, "{message} {0} %s {{}}", "second")],
        problem="the reply is not exactly the prefix followed by the message")


@check("echo.empty", "MUST", "/ws 2", "the empty message is echoed as the bare prefix",
       needs=["echo"],
       precondition=ECHO_LET_IN)
async def empty(ctx: Context) -> Verdict:
    return await compare(ctx, [lockstep(ctx, "", "after empty")],
                         problem="the empty message is not echoed as the bare prefix")


@check("echo.whitespace", "MUST", "/ws 2",
       "leading, trailing and inner whitespace are kept, nothing is trimmed", needs=["echo"],
       precondition=ECHO_LET_IN)
async def whitespace(ctx: Context) -> Verdict:
    return await compare(
        ctx, [lockstep(ctx, " ", "  padded  ", "\ttab", "trailing ", " leading", "in  side")],
        problem="whitespace was trimmed or changed")


@check("echo.newlines", "MUST", "/ws 2", "newlines (\\n, \\r\\n, \\r) are kept", needs=["echo"],
       precondition=ECHO_LET_IN)
async def newlines(ctx: Context) -> Verdict:
    return await compare(
        ctx, [lockstep(ctx, "line one\nline two", "crlf\r\nend", "\n", "cr\rend", "end\n")],
        problem="newlines were dropped or changed")


@check("echo.unicode", "MUST", "/ws 2",
       "any Unicode text comes back unchanged: scripts, emoji, combining marks, RTL, controls",
       needs=["echo"],
       precondition=ECHO_LET_IN)
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
        # Line and paragraph separators, NEL and the other breaks `splitlines` knows.
        "line\u2028sep para\u2029sep nel\x85 vt\x0b ff\x0c fs\x1c end",
        # Variation selectors (text and emoji presentation, an ideographic one).
        "\u2764\ufe0f \u263a\ufe0e \u845b\U000e0100",
        # Rare categories: enclosing mark, spaces, soft hyphen, tags, private use,
        # noncharacters, an unassigned code point.
        "1\u20e3 a\u3000b\u1680c soft\xadhyphen \U000e0041\U000e007f \ue000\U000f0000 "
        "\ufffe\uffff\U0010ffff \u0378",
    ]
    return await compare(ctx, [lockstep(ctx, *samples)],
                         problem="a non-ASCII or control character was changed")


@check("echo.syntax-like", "MUST", "/ws 2",
       "text that looks like syntax comes back unchanged: templates ($name, {x}, %s, {{x}}), "
       "escapes typed as text (\\n), commands (/help), JSON ( 5, 1e2, null), markup "
       "(<b>, &amp;), SQL and shell, URL escapes (%20, +), numbers",
       needs=["echo"],
       precondition=ECHO_LET_IN)
async def syntax_like(ctx: Context) -> Verdict:
    # One conversation with the whole catalogue: every mistake of the catalogue changes (or
    # chokes on) one of these texts, so a server that renders, unescapes, routes, parses or
    # sanitises a message fails here every run, not when a property happens to draw it.
    # In conversations of a few dozen messages: a per-connection quota is echo.stays-open's.
    chunks = [SYNTAX_LIKE[i:i + SYNTAX_CHUNK] for i in range(0, len(SYNTAX_LIKE), SYNTAX_CHUNK)]
    return await compare(ctx, [lockstep(ctx, *chunk, "after the catalogue") for chunk in chunks],
                         problem="a message that looks like syntax (a template, an escape, a "
                                 "command, JSON, markup, a number) was not echoed unchanged")


#: Messages per conversation of echo.syntax-like.
SYNTAX_CHUNK = 40


#: Sizes, in bytes of UTF-8, of the texts over 64 KiB echo.long sends besides the 64 KiB one,
#: each on a connection of its own: past the buffers a server or an app sizes at 64 KiB
#: (which truncate, or fail with another code), and 300 KiB past a quarter of a 1 MiB limit,
#: where a size guard that counts UTF-8 bytes only when a text's length cannot decide starts
#: to encode.
LARGE_TEXT_SIZES = (100 * 1024, 300 * 1024)

#: The unit the long texts repeat: ASCII, two-, three- and four-byte characters, a newline.
LONG_UNIT = "0123456789abcdef" * 3 + "é你🙂\n"


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _sent_size(obs: Observation) -> int:
    """The largest text ``obs`` sent, in bytes of UTF-8."""
    return max((_utf8_size(a.text) for a in obs.conversation.actions
                if isinstance(a, SendText)), default=0)


def _long_answered(obs: Observation) -> bool:
    """Judged: the whole transcript is the model's, or, for a text over 64 KiB, the same up
    to that text's echo, which is a close with 1009 instead (the protocol's refusal)."""
    if obs.observed == obs.expected:
        return True
    expected = obs.expected
    return (_sent_size(obs) > LONG_MESSAGE_BYTES and bool(expected)
            and isinstance(expected[-1], Text)
            and obs.observed == (*expected[:-1], Closed(MESSAGE_TOO_BIG)))


def _what_came_back(event: Event, expected: str, sent: str, around: tuple[str, str] | None,
                    ) -> str:
    """What the server answered a long text with, in sizes (never the text itself).
    ``around`` is what the reply template puts before and after the message, when known."""
    if isinstance(event, Closed):
        return f"a close with {event.code}"
    if not isinstance(event, Text):
        return describe(event)
    if event.original is not None:  # clipped while it arrived: only its size is known
        return f"a reply of {event.original[1]:,} bytes that is not the whole echo"
    text, size = event.text, _utf8_size(event.text)
    if around is not None:
        head, tail = around
        body = text[len(head):len(text) - len(tail)]
        if (text.startswith(head) and text.endswith(tail) and len(text) >= len(head + tail)
                and sent.startswith(body)):
            return f"an echo of only its first {_utf8_size(body):,} bytes (truncated)"
    if expected.startswith(text):
        return (f"only the first {size:,} of the {_utf8_size(expected):,} bytes of the reply "
                "(truncated)")
    return (f"a reply of {size:,} bytes that is not the echo (a reply of "
            f"{_utf8_size(expected):,} bytes)")


def _long_problem(echo: EchoSpec, obs: Observation) -> str:
    """The failure text of a long text: its size, what the protocol allows, what came."""
    sent = max((a.text for a in obs.conversation.actions if isinstance(a, SendText)),
               key=_utf8_size)
    size = _utf8_size(sent)
    expected, observed = obs.expected, obs.observed
    reply = echo.render_reply(sent)
    at_echo = expected.index(Text(reply))
    parts = echo.render_reply("\x00").split("\x00")
    around = (parts[0], parts[1]) if len(parts) == 2 else None
    at = next((k for k, (e, o) in enumerate(zip(expected, observed)) if e != o),
              min(len(expected), len(observed)))
    if at < at_echo:
        return (f"the conversation went wrong before its text of {size:,} bytes (the "
                "handshake, or the echo of a short message before it)")
    if at > at_echo:
        return (f"a text of {size:,} bytes came back whole, but the conversation around it "
                "did not go on as it should (a short message after it, or the end)")
    came = (_what_came_back(observed[at], reply, sent, around) if at < len(observed)
            else "nothing")
    allowed = "the whole text echoed in the reply"
    if size > LONG_MESSAGE_BYTES:
        allowed += f", or a close with {MESSAGE_TOO_BIG} (message too big)"
    return f"a text of {size:,} bytes of UTF-8 got {came}; the protocol allows only {allowed}"


@check("echo.long", "MUST", "/ws 2",
       "a 64 KiB message (65,536 bytes of UTF-8, any script) comes back whole; larger ones "
       "(100 and 300 KiB, each on its own connection) come back whole or get a close with "
       "1009 (message too big), never truncated, another close or nothing", needs=["echo"],
       precondition=ECHO_LET_IN)
async def long(ctx: Context) -> Verdict:
    # Exactly the largest message a server must take: one byte more may be refused (1009).
    # The larger ones each follow a short text on a connection of their own, so that a
    # refusal of every client stays inconclusive and a 1009 ends only its own conversation.
    convs = [lockstep(ctx, utf8_text(LONG_UNIT, LONG_MESSAGE_BYTES), "after long"),
             *(lockstep(ctx, "before long", utf8_text(LONG_UNIT, size))
               for size in LARGE_TEXT_SIZES)]
    # A pass keeps the 64 KiB conversation as its evidence, as before: not 400 KiB more.
    together = await all_agree(ctx, convs, _long_answered)
    if together is not None:
        return Verdict(observation=together[0])
    first: Observation | None = None
    for conv in convs:
        obs = await run_conversation(ctx.driver, ctx.spec, conv)
        first = first or obs
        if not _long_answered(obs):
            return await unserved(ctx, obs) or Verdict(_long_problem(_echo(ctx), obs), obs)
    return Verdict(observation=first)


@check("echo.pipelined", "MUST", "/ws 2",
       "many messages sent before reading any reply are all answered, in order", needs=["echo"],
       precondition=ECHO_LET_IN)
async def pipelined(ctx: Context) -> Verdict:
    messages = [f"pipelined message {i}" for i in range(50)]
    conv = Conversation.of(_echo(ctx).url_path(), *ordinary(ctx, messages), pipelined=True)
    return await compare(ctx, [conv], problem="pipelined messages were lost or reordered")


#: Messages on the one connection of echo.stays-open: well past the quotas (a few dozen
#: messages) that pass every shorter conversation (protocol ``/ws`` 2: no per-connection quota).
LONG_CONVERSATION = 300


@check("echo.stays-open", "MUST", "/ws 2, 3",
       "the connection stays open after an echo and keeps answering, for hundreds of messages",
       needs=["echo"],
       precondition=ECHO_LET_IN)
async def stays_open(ctx: Context) -> Verdict:
    messages = [f"message {i}" for i in range(LONG_CONVERSATION)]
    return await compare(ctx, [lockstep(ctx, *messages)],
                         problem="the server stopped answering or closed after an echo")


@check("echo.no-unsolicited", "MUST", "/ws 3",
       "the server sends nothing it was not asked for: no welcome, no heartbeat text",
       needs=["echo"],
       precondition=ECHO_LET_IN)
async def no_unsolicited(ctx: Context) -> Verdict:
    return await compare(ctx, [lockstep(ctx), lockstep(ctx, "just one")],
                         problem="the server sent a message nobody asked for")


#: In-process, how far past the idle watch echo.idle follows the app's next timer (seconds
#: from the echo): the protocol's own example of a long silence is a minute.
IDLE_FOLLOW = 60.0
#: How long after that timer is due the watch lasts: its callback's work, on a busy machine.
FOLLOW_GRACE = 0.5


def _watch(ctx: Context, watched: float) -> str:
    """How long the connection was watched, for the failure text."""
    if watched <= ctx.idle_watch:
        return f"{ctx.idle_watch:g}s"
    return (f"{watched:.1f}s ({ctx.idle_watch:g}s watched, then on until the app's own timer "
            "had fired)")


@check("echo.idle", "MUST", "/ws 3",
       "an idle connection stays silent and open for seconds (the idle_watch setting; "
       "in-process on until the app's next timer within a minute has fired): no heartbeat "
       "text, no close for idleness, and the next message is still answered",
       needs=["echo"],
       precondition=ECHO_LET_IN, waits=True)
async def idle(ctx: Context) -> Verdict:
    # Over a network the watch is real time. In-process it ends as soon as the app is known
    # idle (it waits in receive() and the loop has no timer or socket of its own, so nothing
    # can ever come); an app with a timer keeps the loop from being idle and is watched for
    # the whole time, so a timer that fires every second is seen. A timer due after the
    # watch (an idle timeout of a few seconds) is followed until it has fired, once, up to
    # IDLE_FOLLOW seconds: an app with no timer pays nothing for it.
    before, after = ordinary(ctx, ["before a pause", "after a pause"])
    watched = ctx.idle_watch
    conv = Conversation.of(_echo(ctx).url_path(), before, after)
    ex = await Exchange.open(ctx.driver, conv)
    during: list[Event] = []
    if ex.listening:
        await ex.drain()  # a greeting is echo.no-unsolicited's, not a sign of idleness
    start = len(ex.observed)
    sent = ex.listening
    if ex.listening:
        await ex.connection.send_text(before)
        if await ex.read(1):
            heard = await ex.connection.quiet(ctx.idle_watch)
            due = (ex.connection.next_app_timer()
                   if heard is None and isinstance(ex.connection, SeesAppTimers) else None)
            if due is not None and ctx.idle_watch + due <= IDLE_FOLLOW:
                heard = await ex.connection.quiet(due + FOLLOW_GRACE)
                watched = ctx.idle_watch + due
            if heard is not None:
                ex.observed.append(heard)
                during.append(heard)
                await ex.drain()
            else:
                await ex.connection.send_text(after)
                if await ex.read(1):
                    await ex.drain()
    if not ex.ended:
        await ex.connection.close()
    obs = Observation(conv, expected(ctx.spec, conv), tuple(ex.observed))
    if obs.observed[:1] != (Accepted(),):
        gap = await unserved(ctx, obs)
        return gap or Verdict("the handshake was not accepted, so no idle connection could "
                              "be watched", obs)
    if during:
        return Verdict(f"during {_watch(ctx, watched)} of idleness after an echo the server "
                       "sent something nobody asked for, or ended the connection", obs)
    if not sent:
        return Verdict.unobserved(
            "precondition failed: the connection ended before its first message could be "
            "sent, so no idle connection after an echo could be watched (see "
            "echo.no-unsolicited)", obs)
    replies = obs.observed[start:]
    if not replies or not isinstance(replies[0], Text):
        return Verdict.unobserved(
            "precondition failed: the first message got no reply, so no idle connection "
            "after an echo could be watched (see echo.exact)", obs)
    if len(replies) < 2 or not isinstance(replies[1], Text):
        return Verdict(f"after {_watch(ctx, watched)} of idleness the connection no longer "
                       "answered the next message", obs)
    return Verdict(observation=obs)

