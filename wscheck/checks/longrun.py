"""The long run: state that builds up over a whole process, not one conversation.

Each conversation of the other checks is short, and the suite opens some hundreds of
connections in all: an app that breaks after the N-th connection, message or bye of its
process (a slot never freed, every N-th reply dropped, a counter that wraps) passes them if N
lies beyond. This check takes the target a fixed, known distance further — thousands of
messages, hundreds of connections and byes, ``concurrency`` conversations at a time — and the
model judges every reply. It runs after every other check, alone (``last``): what it brings
out in the target's process then reaches no other verdict.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from wscheck.checks.judging import BOTH_LET_IN, ordinary, refuses_everyone
from wscheck.core.events import ClientClose, Conversation, SendText
from wscheck.run.conversation import Observation, run_conversation
from wscheck.run.registry import Context, Verdict, check

__all__ = ["CONNECTIONS", "MESSAGES", "NETWORK_CONNECTIONS", "NETWORK_MESSAGES", "Workload",
           "workload"]

#: Connections of the long run, and messages each sends (pipelined: every message sent
#: before any reply is read, as a busy client does).
CONNECTIONS = 240
MESSAGES = 8
#: Over a network, fewer and longer conversations: each connection is a handshake and a
#: closing handshake, milliseconds of the kit's CPU and the server's (docs/performance.md),
#: where in-process it costs about as much as a message. Messages and replies stay as many.
NETWORK_CONNECTIONS = 96
NETWORK_MESSAGES = 21
#: Every ``AUTH_EVERY``-th connection goes to the credentials endpoint (with its own token,
#: and ``q`` on every other one); the others to the echo endpoint, each ending with the bye
#: word (or, in a protocol without one, the client's close).
AUTH_EVERY = 4


@dataclass(frozen=True)
class Workload:
    """The long run's conversations, fixed for a spec, and how far each one takes the
    process: before conversation ``i``, ``connections[i]`` connections, ``messages[i]``
    messages and ``byes[i]`` byes of the long run were opened, sent and said."""

    conversations: tuple[Conversation, ...]
    messages: tuple[int, ...]
    byes: tuple[int, ...]

    def before(self, index: int) -> str:
        return (f"{index} connections, {self.messages[index]} messages and {self.byes[index]} "
                "byes of the long run")


def workload(ctx: Context) -> Workload:
    """The conversations of the long run for ``ctx.spec``: deterministic, whatever the run."""
    echo, auth = ctx.spec.echo, ctx.spec.auth
    conversations: list[Conversation] = []
    messages, byes = [0], [0]
    in_process = getattr(ctx.driver, "kind", "asgi") == "asgi"
    connections = CONNECTIONS if in_process else NETWORK_CONNECTIONS
    length = MESSAGES if in_process else NETWORK_MESSAGES
    for i in range(connections):
        texts = ordinary(ctx, [f"long run {i} message {j}" for j in range(length)])
        if auth is not None and (echo is None or i % AUTH_EVERY == AUTH_EVERY - 1):
            query = {auth.token: f"long-run-{i}"}
            if i % 2:
                query[auth.q] = str(i)
            conv = Conversation.of(auth.url_path(), *texts, ClientClose(), query=query,
                                   pipelined=True)
            said_bye = 0
        else:
            assert echo is not None
            end = echo.bye if echo.bye is not None else ClientClose()
            conv = Conversation.of(echo.url_path(), *texts, end, pipelined=True)
            said_bye = int(echo.bye is not None)
        conversations.append(conv)
        messages.append(messages[-1] + sum(isinstance(a, SendText) for a in conv.actions))
        byes.append(byes[-1] + said_bye)
    return Workload(tuple(conversations), tuple(messages), tuple(byes))


def _shape(conv: Conversation) -> tuple[str, tuple[str, ...]]:
    """What the model's replies depend on besides the texts: the path and the query's keys."""
    return conv.path, tuple(sorted(name for name, _ in conv.query))


@check("isolation.long-run", "MUST", "/ws 2, 4, 5; /item/ws 3",
       f"over a long run (thousands of messages; in-process {CONNECTIONS} connections, "
       f"{CONNECTIONS * 3 // AUTH_EVERY} of them ending with the bye word, over a network "
       f"{NETWORK_CONNECTIONS}; concurrently) every conversation still gets exactly what the "
       "model predicts: nothing in a server's process breaks after the N-th connection, "
       "message or bye",
       needs=["endpoint"],
       precondition=BOTH_LET_IN + ", and the first conversation of each kind the long run "
       "holds, run alone at its start, gets what the model predicts",
       last=True)
async def long_run(ctx: Context) -> Verdict:
    paths = [spec.url_path() for spec in (ctx.spec.echo, ctx.spec.auth) if spec is not None]
    gap = await refuses_everyone(ctx, *paths)
    if gap is not None:
        return gap
    work = workload(ctx)
    # The first conversation of each kind runs alone first: one that fails there shows a
    # defect from the start, which the other checks of its line name; what this check judges
    # is what breaks later.
    firsts: dict[tuple[str, tuple[str, ...]], int] = {}
    for index, conv in enumerate(work.conversations):
        firsts.setdefault(_shape(conv), index)
    for index in sorted(firsts.values()):
        obs = await run_conversation(ctx.driver, ctx.spec, work.conversations[index],
                                     quiet=False)
        if not obs.ok:
            return Verdict.unobserved(
                "precondition failed: the first conversation of its kind, alone at the start "
                "of the long run, already differs from the model: the defect does not build "
                "up over the run (the checks of its protocol line say what it is)", obs)
    failed: dict[int, Observation] = {}
    queue = iter(i for i in range(len(work.conversations)) if i not in firsts.values())

    async def worker() -> None:
        # Each worker takes the next conversation until none is left or one failed: after a
        # failure the rest of the run would only add failures of the same cause.
        for index in queue:
            if failed:
                return
            # Judged: the replies and closes the model predicts. Not waiting for extra
            # messages after them keeps the run short over a network; extras are the echo
            # checks' concern.
            obs = await run_conversation(ctx.driver, ctx.spec, work.conversations[index],
                                         quiet=False)
            if not obs.ok:
                failed[index] = obs

    await asyncio.gather(*(worker() for _ in range(max(1, ctx.concurrency))))
    if not failed:
        return Verdict(notes=(f"note: {len(work.conversations)} connections, "
                              f"{work.messages[-1]} messages and {work.byes[-1]} byes, every "
                              "reply as the model predicts",))
    index = min(failed)
    return Verdict(
        f"after {work.before(index)} (and whatever the checks before it sent), a conversation "
        "did not get what the model predicts, though the first of its kind did at the start: "
        "what changed is state that builds up in the server's process (a connection slot "
        "never freed, a count of replies or byes) or, if it breaks only beside other "
        "clients, their traffic (see isolation.concurrent)", failed[index])
