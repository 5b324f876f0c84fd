"""Checks that each connection is its own conversation (protocol ``/ws`` 5, ``/item/ws`` 3)."""

from __future__ import annotations

from wscheck.checks.judging import (
    every_client,
    find_leak,
    leak_problem,
    marker,
    ordinary,
    refuses_everyone,
    served,
)
from wscheck.core.events import Accepted, Conversation, Event, Text
from wscheck.run.conversation import interleave, run_conversation
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


@check("isolation.same-text", "MUST", "/ws 5, /item/ws 3",
       "clients that send the same text at the same moment each get one reply per message: "
       "replies are not routed by their text",
       needs=["echo"],
       precondition="a lone client of each endpoint is served (echo.accept, auth.token), and "
                    "every client here is let in; a client with no reply is what it looks for")
async def same_text(ctx: Context) -> Verdict:
    # Provenance tags make every text of isolation.concurrent unique; here the texts are
    # the same on purpose and untagged, so only the number of replies on each connection
    # can tell: a server that hands replies back through a table keyed by their text gives
    # one client both and the other none. Every client sends its n-th message before any
    # reads (interleave), which is what "at the same moment" means in-process.
    assert ctx.spec.echo is not None
    texts = ordinary(ctx, ["same text", "same text", "another same text"])
    convs = [Conversation.of(ctx.spec.echo.url_path(), *texts) for _ in range(SAME_TEXT_CLIENTS)]
    if ctx.spec.auth is not None:
        auth = ctx.spec.auth
        convs += [Conversation.of(auth.url_path(), *texts, query={auth.token: "same token"})
                  for _ in range(SAME_TEXT_CLIENTS)]
    names = [f"client {c}" for c in range(len(convs))]
    # Precondition: a lone client of each endpoint is served. A client with no reply at all
    # is what this check looks for, so "served" is asked of a lone client, and of the
    # clients here only that they were let in.
    gap = await refuses_everyone(ctx, *dict.fromkeys(c.path for c in convs))
    if gap is not None:
        return gap
    observations = await interleave(ctx.driver, ctx.spec, convs)
    for obs in observations:
        if obs.observed[:1] != (Accepted(),):
            return Verdict.unobserved("precondition failed: a client was not let in, so the "
                                      "replies per connection cannot be counted (see the "
                                      "echo and auth checks)", obs)
    # Each client must get as many replies as the same conversation gets alone: compared
    # with a solo run, not the model, this stays about isolation (a reply one message late,
    # the same for everyone, is the echo checks' business).
    alone = {path: _texts((await run_conversation(ctx.driver, ctx.spec, conv)).observed)
             for path, conv in {c.path: c for c in convs}.items()}
    counts = [(alone[o.conversation.path], _texts(o.observed)) for o in observations]
    for i, (due, got) in enumerate(counts):
        if got != due:
            said = ", ".join(f"{names[j]} {g} of {d}" for j, (d, g) in enumerate(counts))
            return Verdict(
                f"clients that sent the same texts at the same moment did not each get their "
                f"own replies: {names[i]} got {got} replies where the same conversation alone "
                f"gets {due} (replies per client: {said}); a server that routes replies by "
                "their text gives one client both and the other none", observations[i],
                notes=(f"every client:\n{every_client(observations, names)}",))
    return Verdict(observation=observations[0])


#: Clients per endpoint of isolation.same-text.
SAME_TEXT_CLIENTS = 3


def _texts(transcript: tuple[Event, ...]) -> int:
    return sum(isinstance(e, Text) for e in transcript)
