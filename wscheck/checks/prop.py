"""Property-based checks: generated messages and conversations, shrunk to a minimal failure.

Fixed cases catch the defects someone thought of; these catch the rest. How Hypothesis is run
(profiles, the shrink budget, the bound on one example) is :mod:`wscheck.generation.runner`'s;
the state machine over several connections is in :mod:`wscheck.checks.stateful`.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from wscheck.checks.judging import (
    ECHO_LET_IN,
    TOKEN_LET_IN,
    every_client,
    find_leak,
    leak_problem,
    lockstep,
    marker,
    refusal_form,
    refuses_everyone,
)
from wscheck.core.events import Accepted, Closed, Conversation, Silence
from wscheck.generation.bridge import PropertyFailed
from wscheck.generation.runner import profile, run_property
from wscheck.generation.strategies import auth_conversations, echo_conversations, messages
from wscheck.run.conversation import Observation, interleave, run_conversation
from wscheck.run.registry import Context, Verdict, check

#: ``profile`` is re-exported for code that imported it from here.
__all__ = ["profile", "prop_auth", "prop_concurrent", "prop_conversation", "prop_echo"]


def _echo_quiet(ctx: Context) -> bool:
    # Over a network every final quiet window costs real time; generated conversations check
    # extra messages through the replies that follow instead, and the fixed checks keep the
    # final window.
    return ctx.driver.kind == "asgi"


def _never(obs: Observation) -> bool:
    return False


async def _agrees_with_model(
    ctx: Context,
    check_id: str,
    conversations: st.SearchStrategy[Conversation],
    problem: str,
    path: str,
    excused: Callable[[Observation], bool] = _never,
) -> Verdict:
    """The property that every generated conversation's transcript is the model's (unless
    ``excused`` says a difference is another check's business). Precondition: a plain client
    of ``path`` is accepted."""
    gap = await refuses_everyone(ctx, path)
    if gap is not None:
        return gap

    async def evaluate(conv: Conversation) -> PropertyFailed | None:
        obs = await run_conversation(ctx.driver, ctx.spec, conv, quiet=_echo_quiet(ctx))
        return None if obs.ok or excused(obs) else PropertyFailed(problem, obs)

    return await run_property(ctx, check_id, conversations, evaluate)


@check("prop.echo", "MUST", "/ws 2",
       "for every generated message, the echo is exact", needs=["echo"],
       precondition=ECHO_LET_IN)
async def prop_echo(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    path = ctx.spec.echo.url_path()
    one_message = messages(ctx.spec).map(lambda message: Conversation.of(path, message))
    return await _agrees_with_model(ctx, "prop.echo", one_message,
                                    "a generated message was not echoed exactly", path)


@check("prop.conversation", "MUST", "/ws 2-4",
       "for every generated conversation (lock-step or pipelined, any length, bye or not, "
       "with or without the Origin header a browser sends), the transcript is the model's",
       needs=["echo"],
       precondition=ECHO_LET_IN)
async def prop_conversation(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    return await _agrees_with_model(
        ctx, "prop.conversation", echo_conversations(ctx.spec),
        "a generated conversation did not go as the protocol says", ctx.spec.echo.url_path())


@check("prop.auth", "MUST", "/item/ws 1-4",
       "for every combination of cookie, token and q (present, empty, absent), with or "
       "without the Origin header a browser sends, the transcript is the model's",
       needs=["auth"],
       precondition=TOKEN_LET_IN)
async def prop_auth(ctx: Context) -> Verdict:
    assert ctx.spec.auth is not None
    code = ctx.spec.auth.denied_close_code

    def wire_form(obs: Observation) -> bool:
        # A refusal may take its wire form (close before accept, HTTP 403): the verdict of
        # auth.missing, whose note explains it, and not this property's business.
        return obs.expected == (Accepted(), Closed(code)) and refusal_form(obs, code) is not None

    return await _agrees_with_model(ctx, "prop.auth", auth_conversations(ctx.spec),
                                    "a generated credentials conversation went wrong",
                                    ctx.spec.auth.url_path(), wire_form)


@check("prop.concurrent", "MUST", "/ws 5",
       "several generated clients interleaved each get exactly their own transcript",
       needs=["echo"],
       precondition=ECHO_LET_IN + "; a lone client's message is answered within the timeout")
async def prop_concurrent(ctx: Context) -> Verdict:
    assert ctx.spec.echo is not None
    path = ctx.spec.echo.url_path()
    script = st.lists(messages(ctx.spec, long=False), min_size=1, max_size=4)
    # One example in four: every client sends the same texts, untagged, at the same moment
    # (isolation.same-text's case, drawn): a server that routes replies by their text gives
    # one client both and the other none, which only the comparison with a solo run shows.
    distinct = st.lists(script, min_size=2, max_size=5).map(lambda s: (s, False))
    same = st.tuples(script, st.integers(2, 4)).map(lambda p: ([p[0]] * p[1], True))
    clients = st.sampled_from((False, False, False, True)).flatmap(
        lambda identical: same if identical else distinct)
    gap = await refuses_everyone(ctx, path)
    if gap is not None:
        return gap
    # Each example compares every client with the same conversation run alone: where a lone
    # client's reply never comes, both wait out the timeout and agree, example after
    # example (80 s over a network at --concurrency 1), and nothing about isolation shows.
    lone = await run_conversation(ctx.driver, ctx.spec, lockstep(ctx, "alone"), quiet=False)
    if any(isinstance(e, Silence) for e in lone.observed):
        return Verdict.unobserved(
            "precondition failed: a lone client's message got no reply within the timeout, "
            "so whether clients together each get their own replies cannot be shown (the "
            "echo checks judge the missing reply)", lone)

    async def evaluate(drawn: tuple[list[list[str]], bool]) -> PropertyFailed | None:
        scripts, identical = drawn
        # Every message carries its client's tag: any text with another client's tag on a
        # connection is a leak, whatever its shape (the rule of isolation.concurrent).
        tags = [[marker(i)] for i in range(len(scripts))]
        names = [f"client {i}" for i in range(len(scripts))]
        convs = [Conversation.of(path, *(m if identical else f"{marker(i)}{m}" for m in s))
                 for i, s in enumerate(scripts)]
        together = await interleave(ctx.driver, ctx.spec, convs)
        everyone = (f"every client of this example:\n{every_client(together, names)}",)
        leak = None if identical else find_leak([o.observed for o in together], tags)
        if leak is not None:
            return PropertyFailed(leak_problem(leak, names, tags), together[leak[0]],
                                  notes=everyone)
        # Each client must get what the same conversation gets alone. Comparing with a solo
        # run, not the model, keeps this about isolation: an app that echoes wrongly, but
        # the same way for everyone, is the other checks' business.
        for name, conv, obs in zip(names, convs, together):
            # Over a network, the solo run listens for unexpected messages only when the
            # interleaved one strayed from the model: otherwise that one heard nothing extra
            # in its own window, and the replies the model predicts are all a solo run can be
            # compared on (an extra message that comes only to a lone client is
            # echo.no-unsolicited's). That saves one quiet window per client and example;
            # in-process the window costs nothing and is kept.
            quiet = _echo_quiet(ctx) or not obs.ok
            alone = await run_conversation(ctx.driver, ctx.spec, conv, quiet=quiet)
            if obs.observed != alone.observed:
                shown = Observation(conv, alone.observed, obs.observed)
                how = ("sending the same texts at the same moment" if identical
                       else "interleaved")
                return PropertyFailed(
                    f"with clients {how}, {name} got other replies than it gets alone "
                    "(expected column: the same conversation run alone)", shown,
                    notes=everyone)
        return None

    return await run_property(ctx, "prop.concurrent", clients, evaluate,
                             examples=max(10, ctx.examples // 4))
