"""Checks of the bye word (protocol ``/ws`` line 4)."""

from __future__ import annotations

from wscheck.checks import Context, Verdict, check, compare
from wscheck.checks.echo import lockstep
from wscheck.events import Closed, Conversation, Event
from wscheck.runner import run_conversation
from wscheck.spec import EchoSpec


def _bye(ctx: Context) -> tuple[EchoSpec, str]:
    echo = ctx.spec.echo
    assert echo is not None and echo.bye is not None
    return echo, echo.bye


def _any_close_code(transcript: tuple[Event, ...]) -> tuple[Event, ...]:
    return tuple(Closed(0) if isinstance(e, Closed) else e for e in transcript)


def _close_codes(transcript: tuple[Event, ...]) -> tuple[Event, ...]:
    return tuple(e for e in transcript if isinstance(e, Closed))


@check("bye.sequence", "MUST", "/ws 4",
       "the bye word gets both farewells, in order, and then a close", needs=["bye"])
async def sequence(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    conv = Conversation.of(echo.url_path(), bye)
    return await compare(ctx, [conv], project=_any_close_code,
                         problem="the farewells or the close after the bye word are wrong")


@check("bye.close-code", "MUST", "/ws 4",
       "the close after the bye word has code 1000 (normal closure)", needs=["bye"])
async def close_code(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    obs = await run_conversation(ctx.driver, ctx.spec, Conversation.of(echo.url_path(), bye))
    closes = [e for e in obs.observed if isinstance(e, Closed)]
    if closes and closes != [Closed(echo.bye_close_code)]:
        return Verdict(f"the close after the bye word must have code {echo.bye_close_code}", obs)
    return Verdict()


@check("bye.nothing-after", "MUST", "/ws 4",
       "after the close nothing more is sent (in-process: no ASGI message after the close)",
       needs=["bye"])
async def nothing_after(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    conv = Conversation.of(echo.url_path(), "before", bye, "after the close")
    obs = await run_conversation(ctx.driver, ctx.spec, conv)
    after = obs.observed[obs.observed.index(Closed(echo.bye_close_code)) + 1:] \
        if Closed(echo.bye_close_code) in obs.observed else ()
    if after:
        return Verdict("the server sent something after its close", obs)
    if obs.aftermath is not None and "after the connection was closed" in str(obs.aftermath):
        return Verdict(f"the app sent after its close: {obs.aftermath}", obs)
    return Verdict()


@check("bye.exact-word", "MUST", "/ws 4",
       "only the exact bye word ends the chat: other cases, spaces, newlines are echoed",
       needs=["bye"])
async def exact_word(ctx: Context) -> Verdict:
    _, bye = _bye(ctx)
    variants = [bye.capitalize(), bye.upper(), f" {bye}", f"{bye} ", f"{bye}\n", f"\t{bye}",
                f"good{bye}", f"{bye}{bye}", f"{bye}!", bye[:-1]]
    variants = list(dict.fromkeys(v for v in variants if v != bye and v))
    return await compare(ctx, [lockstep(ctx, *variants)],
                         problem="a message that is not exactly the bye word was treated as bye")


@check("bye.mid-conversation", "MUST", "/ws 4",
       "the bye word works at any point of a conversation, not only first", needs=["bye"])
async def mid_conversation(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    convs = [Conversation.of(echo.url_path(), "first", "second", bye),
             Conversation.of(echo.url_path(), *[f"m{i}" for i in range(5)], bye, pipelined=True)]
    return await compare(ctx, convs, problem="the bye word did not end a conversation midway")
