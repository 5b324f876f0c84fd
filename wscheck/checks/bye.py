"""Checks of the bye word (protocol ``/ws`` line 4)."""

from __future__ import annotations

from collections.abc import Callable

from wscheck.checks.judging import (
    ECHO_LET_IN,
    any_close_code,
    compare,
    keep_texts,
    lockstep,
    unsendable_close,
    unserved,
)
from wscheck.core.events import Accepted, Closed, Conversation, Flooded, ProtocolViolation, Text
from wscheck.core.spec import EchoSpec
from wscheck.generation.strategies import bye_near_misses
from wscheck.model.echo import expected
from wscheck.run.conversation import Exchange, Observation, pause, run_conversation
from wscheck.run.registry import Context, Verdict, check


def _bye(ctx: Context) -> tuple[EchoSpec, str]:
    echo = ctx.spec.echo
    assert echo is not None and echo.bye is not None
    return echo, echo.bye


@check("bye.sequence", "MUST", "/ws 4",
       "the bye word gets both farewells, in order, and then a close, also when more "
       "messages were sent after it before any reply was read", needs=["bye"],
       precondition=ECHO_LET_IN + ", and not flooded before the bye word is said "
       "(echo.no-unsolicited)")
async def sequence(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    conv = Conversation.of(echo.url_path(), bye)
    # Judged: exactly what follows the bye word — the farewells (texts, order, count) and a
    # close. Whatever came before it (a greeting) is the echo checks'; the close code is
    # bye.close-code's. So the connection is drained before the bye is sent.
    before = await Exchange.open(ctx.driver, conv)
    after = Exchange(before.connection)
    if before.listening:
        await before.drain()
        await after.connection.send_text(bye)
        if await after.read(len(echo.farewells) + 1):
            await after.drain()
    await before.connection.close()
    obs = Observation(conv, expected(ctx.spec, conv), (*before.observed, *after.observed))
    wanted = (*(Text(f) for f in echo.farewells), Closed(0))
    if before.observed[:1] != [Accepted()]:
        gap = await unserved(ctx, obs)
        if gap is not None:
            return gap
        return Verdict("the handshake was not accepted, so the bye word could not be said", obs)
    if before.observed and isinstance(before.observed[-1], Flooded):
        # The client left before it could say the bye word: nothing to judge here; the
        # flood itself is echo.no-unsolicited's.
        return Verdict.unobserved(
            "precondition failed: the server flooded the connection before the bye word was "
            "said, so the client left (see echo.no-unsolicited)", obs)
    if any_close_code(tuple(after.observed)) != wanted:
        return Verdict("the farewells or the close after the bye word are wrong", obs)
    # Messages pipelined after the bye word change nothing: the server still sends both
    # farewells and closes. Judged, as above: the farewells and the close; other texts (a
    # greeting, an echo of a later message) are the echo checks' and bye.nothing-after's.
    pipelined = Conversation.of(echo.url_path(), bye, "sent after bye", "and another",
                                pipelined=True)
    late = await run_conversation(ctx.driver, ctx.spec, pipelined)
    farewells = set(echo.farewells)
    if any_close_code(keep_texts(farewells.__contains__)(late.observed)) != (Accepted(),
                                                                              *wanted):
        return Verdict("with messages sent right after it, the bye word did not get both "
                       "farewells and a close", late)
    return Verdict(observation=obs)


async def _judge_closed(ctx: Context, conv: Conversation, cannot_show: str,
                        judge: Callable[[Observation], str | None]) -> Verdict:
    """Run ``conv`` and ``judge`` what was observed (a problem, or None).

    Precondition: the bye word was recognised, i.e. the handshake was accepted and a close
    followed the bye word. Otherwise what these checks judge (the close, what follows it)
    never happened and the check is inconclusive: bye.sequence judges whether the bye word
    ends the chat, and an app that ignores it must not pass these vacuously."""
    obs = await run_conversation(ctx.driver, ctx.spec, conv)
    if obs.observed[:1] != (Accepted(),):
        gap = await unserved(ctx, obs)
        return gap or Verdict(f"the handshake was not accepted, so {cannot_show}", obs)
    if not any(isinstance(e, Closed) for e in obs.observed):
        return Verdict.unobserved(
            "precondition failed: the bye word was never recognised (no close followed it), "
            f"so {cannot_show} (see bye.sequence)", obs)
    problem = judge(obs)
    return Verdict(observation=obs) if problem is None else Verdict(problem, obs)


@check("bye.close-code", "MUST", "/ws 4",
       "the close after the bye word has code 1000 (normal closure), in a close frame a "
       "server can send (in-process: a reason of at most 123 bytes)", needs=["bye"],
       precondition="the bye word is recognised: a close follows it (bye.sequence)")
async def close_code(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    wanted = Closed(echo.bye_close_code)

    def judge(obs: Observation) -> str | None:
        closes = [e for e in obs.observed if isinstance(e, Closed)]
        if closes and closes != [wanted]:
            return f"the close after the bye word must have code {wanted.code}"
        return unsendable_close(closes[0]) if closes else None

    return await _judge_closed(ctx, Conversation.of(echo.url_path(), bye),
                               "the bye close cannot be shown", judge)


@check("bye.nothing-after", "MUST", "/ws 4",
       "after the close nothing more is sent (in-process: no ASGI message after the close)",
       needs=["bye"],
       precondition="the bye word is recognised: a close follows it (bye.sequence)")
async def nothing_after(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    close = Closed(echo.bye_close_code)

    def judge(obs: Observation) -> str | None:
        if close in obs.observed and obs.observed[obs.observed.index(close) + 1:]:
            return "the server sent something after its close"
        if isinstance(obs.aftermath, ProtocolViolation) and obs.aftermath.after_close:
            return f"the app sent after its close: {obs.aftermath}"
        return None

    conv = Conversation.of(echo.url_path(), "before", bye, "after the close")
    return await _judge_closed(ctx, conv, "nothing can be shown about what follows a bye",
                               judge)


@check("bye.exact-word", "MUST", "/ws 4",
       "only the exact bye word ends the chat: other cases, spaces, control and invisible "
       "characters, fullwidth and other NFKC variants are echoed",
       needs=["bye"],
       precondition=ECHO_LET_IN)
async def exact_word(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    variants = bye_near_misses(bye)
    # Judged: no farewell and no close. How the near-misses are echoed is the echo checks'.
    farewells = set(echo.farewells)
    return await compare(ctx, [lockstep(ctx, *variants)],
                         project=keep_texts(lambda text: text in farewells),
                         problem="a message that is not exactly the bye word was treated as bye")


@check("bye.mid-conversation", "MUST", "/ws 4",
       "the bye word works at any point of a conversation, not only first", needs=["bye"],
       precondition=ECHO_LET_IN)
async def mid_conversation(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    convs = [Conversation.of(echo.url_path(), "first", "second", bye),
             Conversation.of(echo.url_path(), *[f"m{i}" for i in range(5)], bye, pipelined=True)]
    # Judged: the bye word, said late, still ends the chat (is not echoed, and a close comes).
    # The farewells' texts and the close code are bye.sequence's and bye.close-code's.
    bye_echo = echo.render_reply(bye)
    return await compare(ctx, convs,
                         project=lambda t: any_close_code(keep_texts(bye_echo.__eq__)(t)),
                         problem="the bye word did not end a conversation midway")


@check("bye.after-pause", "MUST", "/ws 3, 4",
       "the bye word said after seconds of silence (the idle_watch setting) gets the same "
       "farewells and close as when said at once", needs=["bye"],
       precondition="the bye word is recognised when said at once: a close follows it "
       "(bye.sequence)",
       waits=True)
async def after_pause(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    conv = Conversation.of(echo.url_path(), bye)
    # The control first, alone: the bye word said at once (run beside the pause, an app
    # that broadcasts would let its farewells reach the paused client).
    control = await run_conversation(ctx.driver, ctx.spec, conv)
    if control.observed[:1] != (Accepted(),):
        gap = await unserved(ctx, control)
        return gap or Verdict("the handshake was not accepted, so the bye word could not be "
                              "said", control)
    if not any(isinstance(e, Closed) for e in control.observed):
        return Verdict.unobserved(
            "precondition failed: the bye word said at once was never recognised (no close "
            "followed it), so whether a pause changes that cannot be judged (see "
            "bye.sequence)", control)
    # Then the same conversation after a pause, real time in both drivers (an app may look
    # at its clock). Judged: the farewells and the close, against the control's (what they
    # must be is bye.sequence's and bye.close-code's; here only the pause may not change
    # them). A greeting before the pause is echo.no-unsolicited's.
    ex = await Exchange.open(ctx.driver, conv)
    if ex.listening:
        await ex.drain()
    greeted = len(ex.observed)
    if ex.listening:
        await pause(ctx.idle_watch)
        await ex.connection.send_text(bye)
        if await ex.read(len(echo.farewells) + 1):
            await ex.drain()
    if not ex.ended:
        await ex.connection.close()
    await ex.connection.finish()
    obs = Observation(conv, control.observed, tuple(ex.observed))
    if ex.observed[:1] != [Accepted()]:
        return Verdict("the handshake was not accepted, so the bye word could not be said",
                       obs)
    farewells = set(echo.farewells)
    project = keep_texts(farewells.__contains__)
    if any_close_code(project(tuple(ex.observed[greeted:]))) != any_close_code(
            project(control.observed[1:])):
        return Verdict(f"after {ctx.idle_watch:g}s of silence the bye word no longer got the "
                       "farewells and close it gets when said at once (expected column: the "
                       "bye word said at once)", obs)
    return Verdict(observation=obs)
