"""Checks that each connection is its own conversation (protocol ``/ws`` 5, ``/item/ws`` 3)."""

from __future__ import annotations

from wscheck.events import Conversation, Text
from wscheck.judging import ordinary, refuses_everyone, served
from wscheck.registry import Context, Verdict, check
from wscheck.runner import interleave


@check("isolation.concurrent", "MUST", "/ws 5, /item/ws 3",
       "with several clients interleaved, each gets exactly its own replies",
       needs=["echo"],
       precondition="every client is served (echo.accept, auth.token); a leak fails it "
                    "whatever the others got")
async def concurrent(ctx: Context) -> Verdict:
    clients, rounds = 6, 5
    assert ctx.spec.echo is not None
    path = ctx.spec.echo.url_path()
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
    observations = await interleave(ctx.driver, ctx.spec, convs)
    # Only cross-talk is this check's business: a reply meant for another client. Other
    # defects (wrong texts, refusals) make other checks fail, each for its own reason.
    for i, obs in enumerate(observations):
        others = {e for j, o in enumerate(observations) if j != i for e in o.expected
                  if isinstance(e, Text)}
        for event in obs.observed:
            if isinstance(event, Text) and event not in obs.expected and event in others:
                return Verdict("a client got a reply meant for another client", obs)
    # Precondition: every client was served (a leak, above, counts whatever the others got).
    # One that was not shows nothing about cross-talk; whether it should have been served is
    # the echo and auth checks' line.
    for obs in observations:
        if not served(obs):
            return await refuses_everyone(ctx, obs.conversation.path, evidence=obs) or \
                Verdict.unobserved("precondition failed: a client was not served at all, so "
                                   "isolation cannot be shown (see the echo and auth checks)",
                                   obs)
    return Verdict()
