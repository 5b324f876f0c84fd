"""Robustness checks (protocol SHOULD lines: binary messages, clients that go away)."""

from __future__ import annotations

from wscheck.checks.judging import (
    BOTH_LET_IN,
    MESSAGE_TOO_BIG,
    UNOBSERVABLE_OVER_NETWORK,
    all_agree,
    keep_texts,
    refuses_everyone,
    sees_server_side,
    served,
    unanswered_before_subject,
    unserved,
)
from wscheck.core.events import (
    AppLogged,
    ClientClose,
    Closed,
    Conversation,
    Drop,
    Event,
    SendBytes,
    describe,
)
from wscheck.generation.strategies import LONG_MESSAGE_BYTES
from wscheck.run.conversation import Observation, run_conversation
from wscheck.run.registry import Context, Verdict, check

#: Sizes of the large binary messages robust.binary sends besides a short one, each on a
#: connection of its own: above the 64 KiB the protocol names and below 1 MiB. 300 KiB is
#: past a quarter of a 1 MiB limit, where a size guard that counts a text's UTF-8 bytes only
#: when its length alone cannot decide (four bytes a character at most) starts to encode,
#: and fails on bytes.
LARGE_BINARY_SIZES = (100 * 1024, 300 * 1024)

#: The short binary message: not UTF-8 (``\xff``), so an app that decodes it as text fails.
SHORT_BINARY = b"\x00\x01binary\xff"


def _conversations_on_each_endpoint(ctx: Context, *actions: str | bytes | ClientClose | Drop,
                                    pipelined: bool = False) -> list[Conversation]:
    convs = []
    if ctx.spec.echo is not None:
        convs.append(Conversation.of(ctx.spec.echo.url_path(), *actions, pipelined=pipelined))
    if ctx.spec.auth is not None:
        auth = ctx.spec.auth
        convs.append(Conversation.of(auth.url_path(), *actions, query={auth.token: "t"},
                                     pipelined=pipelined))
    return convs


no_texts = keep_texts(lambda text: False)


def _what(aftermath: Event) -> str:
    """A logged record named in the problem itself: the transcripts show nothing wrong, and
    "no error logged" is the line it breaks."""
    if isinstance(aftermath, AppLogged):
        return f": it logged an error ({describe(aftermath)})"
    return ""


def large_binary(size: int) -> bytes:
    """A binary message of ``size`` bytes: the short one repeated (not UTF-8 either)."""
    return (SHORT_BINARY * (size // len(SHORT_BINARY) + 1))[:size]


def _binary_size(obs: Observation) -> int:
    return max((len(a.data) for a in obs.conversation.actions if isinstance(a, SendBytes)),
               default=0)


def _binary_closed(obs: Observation) -> bool:
    """Judged: the close after the binary message (the texts before it are other checks'):
    the spec's binary close code, or 1009 (message too big) for a message over 64 KiB."""
    expected, observed = no_texts(obs.expected), no_texts(obs.observed)
    if observed == expected:
        return True
    return (_binary_size(obs) > LONG_MESSAGE_BYTES and bool(expected)
            and isinstance(expected[-1], Closed)
            and observed == (*expected[:-1], Closed(MESSAGE_TOO_BIG)))


def _size_note(size: int) -> str:
    if size <= LONG_MESSAGE_BYTES:
        return ""
    return f" of {size // 1024} KiB"


@check("robust.binary", "SHOULD", "/ws 6, /item/ws 5",
       "a binary message, short or large (100 and 300 KiB, each on its own connection), gets "
       "a close with code 1003 (unsupported data); above 64 KiB a close with 1009 (message "
       "too big) is accepted too", needs=["endpoint"],
       precondition=BOTH_LET_IN)
async def binary(ctx: Context) -> Verdict:
    gap: Verdict | None = None
    convs = [c for data in (SHORT_BINARY, *map(large_binary, LARGE_BINARY_SIZES))
             for c in _conversations_on_each_endpoint(ctx, "before binary", data)]
    if await all_agree(ctx, convs, _binary_closed):
        return Verdict()
    for c in convs:
        obs = await run_conversation(ctx.driver, ctx.spec, c)
        if not _binary_closed(obs):
            # An endpoint that refuses every client never sees a binary message, and one
            # that leaves the text before it unanswered stops the reading before it.
            unseen = unanswered_before_subject(obs, no_texts) or await unserved(ctx, obs)
            if unseen is None:
                size = _binary_size(obs)
                code = next((e.code for e in reversed(obs.expected) if isinstance(e, Closed)),
                            None)
                also = (f" (or {MESSAGE_TOO_BIG}, message too big)"
                        if size > LONG_MESSAGE_BYTES else "")
                return Verdict(f"a binary message{_size_note(size)} did not get a close with "
                               f"{code}{also}", obs)
            gap = gap or unseen
    return gap or Verdict()


def _dropped_before_close(ctx: Context) -> list[Conversation]:
    """Clients that drop right after what makes the server close (a binary message, the bye
    word, a handshake without credentials), before its close: the close it sends then fails
    (in-process as behind a server), and that too must end quietly."""
    gone = Drop(in_flight=True)
    convs = _conversations_on_each_endpoint(ctx, SHORT_BINARY, gone, pipelined=True)
    echo, auth = ctx.spec.echo, ctx.spec.auth
    if echo is not None and echo.bye is not None:
        convs.append(Conversation.of(echo.url_path(), echo.bye, gone, pipelined=True))
    if auth is not None:
        convs.append(Conversation.of(auth.url_path(), gone, pipelined=True))
    return convs


@check("robust.disconnect", "SHOULD", "/ws 7, /item/ws 5",
       "a client that closes or drops at any point ends its conversation quietly, right "
       "before the server's own close too (after a binary message, the bye word, a refused "
       "handshake): in-process, no exception and no record at ERROR or above logged by the "
       "app",
       needs=["endpoint"],
       precondition=BOTH_LET_IN + "; the server's side is visible: in-process only (over "
                    "the network: inconclusive, cannot be observed)")
async def disconnect(ctx: Context) -> Verdict:
    scenarios: list[tuple[str | ClientClose | Drop, ...]] = [
        ("hello", ClientClose()),
        ("hello", Drop()),
        (Drop(),),
        (ClientClose(1001),),
    ]
    # Precondition: each endpoint serves a client at all; one that serves nobody says
    # nothing about clients going away (and "no longer serves" would be a false accusation).
    gap = await refuses_everyone(ctx, *(c.path for c in
                                         _conversations_on_each_endpoint(ctx, "probe")))
    if gap is not None:
        return gap
    # Whether each endpoint serves a fresh client before any went away: only then can
    # "no longer serves" be said afterwards (an app that answers late never did).
    # (All at once first, over a network: when every one is served, so is each alone.)
    probes = _conversations_on_each_endpoint(ctx, "still serving?")
    serving = ([True] * len(probes) if await all_agree(ctx, probes, served) is not None
               else [served(await run_conversation(ctx.driver, ctx.spec, c)) for c in probes])
    leaving = [c for actions in scenarios for c in _conversations_on_each_endpoint(ctx, *actions)]
    in_flight = _conversations_on_each_endpoint(
        ctx, *[f"in flight {i}" for i in range(20)], Drop(in_flight=True), pipelined=True)
    before_close = _dropped_before_close(ctx)
    # The clients that go away, all at once; one after another if any did not end quietly.
    quietly = await all_agree(ctx, [*leaving, *in_flight, *before_close],
                              lambda obs: obs.aftermath is None)
    for c in [] if quietly else leaving:
        obs = await run_conversation(ctx.driver, ctx.spec, c)
        if obs.aftermath is not None:
            return Verdict("the server did not end the conversation quietly when the "
                           "client went away" + _what(obs.aftermath), obs)
    # Dropping while replies are still on their way.
    for c in [] if quietly else in_flight:
        obs = await run_conversation(ctx.driver, ctx.spec, c)
        if obs.aftermath is not None:
            return Verdict("the server failed when a client dropped with replies in flight"
                           + _what(obs.aftermath), obs)
    # Dropping right before the server's own close.
    for c in [] if quietly else before_close:
        obs = await run_conversation(ctx.driver, ctx.spec, c)
        if obs.aftermath is not None:
            return Verdict("the server did not end the conversation quietly when the client "
                           "dropped right before the server's close" + _what(obs.aftermath),
                           obs)
    # Whatever the server's insides, it must still serve the next client (all at once first,
    # as above; one after another, and judged so, when any was not served).
    after = _conversations_on_each_endpoint(ctx, "still serving?")
    all_served = await all_agree(ctx, after, served) is not None
    for c, served_before in zip([] if all_served else after, serving):
        obs = await run_conversation(ctx.driver, ctx.spec, c)
        # Judged: it accepts and answers; whether the answer is right is the echo checks'.
        if served_before and not served(obs):
            return Verdict("after clients went away the server no longer serves new ones", obs)
    if not sees_server_side(ctx):
        # The server still serves, but whether it ended those conversations quietly (no
        # exception, nothing logged) is on its side of the wire.
        return Verdict.unobserved(UNOBSERVABLE_OVER_NETWORK, unobservable=True)
    return Verdict()

