"""Checks that each connection is its own conversation (protocol ``/ws`` 5, ``/item/ws`` 3)."""

from __future__ import annotations

from wscheck.checks.judging import (
    find_leak,
    leak_problem,
    marker,
    ordinary,
    refuses_everyone,
    served,
)
from wscheck.core.events import Conversation
from wscheck.run.conversation import interleave
from wscheck.run.registry import Context, Verdict, check


@check("isolation.concurrent", "MUST", "/ws 5, /item/ws 3",
       "with several clients interleaved, each gets exactly its own replies",
       needs=["echo"],
       precondition="every client is served (echo.accept, auth.token); a leak fails it "
                    "whatever the others got")
async def concurrent(ctx: Context) -> Verdict:
    clients, rounds = 6, 5
    assert ctx.spec.echo is not None
    path = ctx.spec.echo.url_path()
    # Every message carries its client's tag; a /item/ws client's token carries it too, so
    # a credential shared between connections shows as well as a reply sent astray.
    convs = [
        Conversation.of(path, *ordinary(ctx, [f"{marker(c)} round {r}" for r in range(rounds)]))
        for c in range(clients)
    ]
    if ctx.spec.auth is not None:
        auth = ctx.spec.auth
        convs += [
            Conversation.of(auth.url_path(),
                            *[f"{marker(c)} auth round {r}" for r in range(rounds)],
                            query={auth.token: f"token{marker(c)}"})
            for c in range(clients, clients + 3)
        ]
    tags = [[marker(c)] for c in range(len(convs))]
    names = [f"client {c}" for c in range(len(convs))]
    observations = await interleave(ctx.driver, ctx.spec, convs)
    # Only cross-talk is this check's business: a text that came from another client's
    # messages, whatever its shape. Other defects (wrong texts, refusals) make other checks
    # fail, each for its own reason.
    leak = find_leak([o.observed for o in observations], tags)
    if leak is not None:
        receiver, owner, _ = leak
        return Verdict(leak_problem(leak, names, tags), observations[receiver],
                       notes=(f"the client whose tag leaked, {names[owner]}:\n"
                              f"{observations[owner]}",))
    # Precondition: every client was served (a leak, above, counts whatever the others got).
    # One that was not shows nothing about cross-talk; whether it should have been served is
    # the echo and auth checks' line.
    for obs in observations:
        if not served(obs):
            return await refuses_everyone(ctx, obs.conversation.path, evidence=obs) or \
                Verdict.unobserved("precondition failed: a client was not served at all, so "
                                   "isolation cannot be shown (see the echo and auth checks)",
                                   obs)
    # No leak, every client served: a pass. Texts the model did not predict are the other
    # checks' business when the check ran alone; beside other checks they may be those
    # checks' traffic (a broadcast of their untagged messages) that took the place of what
    # this check reads, so then the pass holds only from a run alone.
    return Verdict(trusted_alone_only=not all(obs.ok for obs in observations))
