"""Checks of the bye word (protocol ``/ws`` line 4)."""

from __future__ import annotations

from wscheck.checks import Context, Verdict, any_close_code, check, compare, keep_texts
from wscheck.checks.echo import lockstep
from wscheck.events import Closed, Conversation
from wscheck.runner import run_conversation
from wscheck.spec import EchoSpec


def _bye(ctx: Context) -> tuple[EchoSpec, str]:
    echo = ctx.spec.echo
    assert echo is not None and echo.bye is not None
    return echo, echo.bye


@check("bye.sequence", "MUST", "/ws 4",
       "the bye word gets both farewells, in order, and then a close", needs=["bye"])
async def sequence(ctx: Context) -> Verdict:
    echo, bye = _bye(ctx)
    conv = Conversation.of(echo.url_path(), bye)
    return await compare(ctx, [conv], project=any_close_code,
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
    echo, bye = _bye(ctx)
    variants = [bye.capitalize(), bye.upper(), f" {bye}", f"{bye} ", f"{bye}\n", f"\t{bye}",
                f"good{bye}", f"{bye}{bye}", f"{bye}!", bye[:-1]]
    variants = list(dict.fromkeys(v for v in variants if v != bye and v))
    # Judged: no farewell and no close. How the near-misses are echoed is the echo checks'.
    farewells = set(echo.farewells)
    return await compare(ctx, [lockstep(ctx, *variants)],
                         project=keep_texts(lambda text: text in farewells),
                         problem="a message that is not exactly the bye word was treated as bye")


@check("bye.mid-conversation", "MUST", "/ws 4",
       "the bye word works at any point of a conversation, not only first", needs=["bye"])
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
