"""Judging observations: the comparisons, projections and texts that checks share.

Checks are leaves: what more than one of them needs (comparing a run with the model, keeping
only the lines a check judges, telling how a refusal looked) lives here, below them, and so
does the failure text every interface prints.
"""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import Callable, Collection, Iterable, Sequence

from wscheck.core.events import (
    MAX_CLOSE_REASON,
    Accepted,
    Closed,
    Conversation,
    Event,
    Refused,
    Silence,
    Text,
    describe,
)
from wscheck.drivers.base import CUT_SHORT, REPLY_BOUND
from wscheck.run.conversation import Observation, run_conversation
from wscheck.run.registry import Check, Context, Verdict

__all__ = [
    "BOTH_LET_IN",
    "ECHO_LET_IN",
    "MESSAGE_TOO_BIG",
    "TOKEN_LET_IN",
    "UNOBSERVABLE_OVER_NETWORK",
    "WIRE_FORM_NOTE",
    "Projection",
    "all_agree",
    "any_close_code",
    "at_once_bound",
    "compare",
    "control",
    "diagnose_refusal",
    "every_client",
    "find_leak",
    "format_failure",
    "keep_texts",
    "leak_problem",
    "lockstep",
    "marker",
    "observe_all",
    "ordinary",
    "refusal_form",
    "refuses_everyone",
    "sees_server_side",
    "served",
    "template_matcher",
    "unanswered_before_subject",
    "unsendable_close",
    "unserved",
    "what_refusal",
]

Projection = Callable[[tuple[Event, ...]], tuple[Event, ...]]

WIRE_FORM_NOTE = (
    "the app refuses the handshake (a close before accept); over a network that reaches "
    "clients as HTTP 403 and the 1008 is lost: 1008 is not observable on the wire"
)

#: The preconditions most checks share (the catalogue lists each check's).
ECHO_LET_IN = "a plain client of the echo endpoint is accepted (echo.accept)"
TOKEN_LET_IN = "a client with a plain token is let in and answered (auth.token)"
BOTH_LET_IN = "a plain client of each endpoint is let in (echo.accept, auth.token)"

#: The close code of a message larger than the server takes (RFC 6455 §7.4.1: message too
#: big). The protocol asks a server to take messages of 64 KiB and lets it refuse a larger
#: one with this code (/ws 2): for a text or a binary message above 64 KiB it is an answer.
MESSAGE_TOO_BIG = 1009

UNOBSERVABLE_OVER_NETWORK = (
    "a network client cannot see what the server does inside (its exceptions, its log), so "
    "whether it ended those conversations quietly is not observable over the network; check "
    "the server's log, or check the ASGI app in-process, where its exceptions are seen"
)


def sees_server_side(ctx: Context) -> bool:
    """Whether the driver sees the server's insides (an app exception, a message after the
    close): in-process it does, over the network it never can."""
    return ctx.driver.kind == "asgi"


def control(ctx: Context, path: str) -> Conversation:
    """The plainest client of the endpoint at ``path``: what every other conversation there
    presumes works. On the credentials endpoint it carries a plain token and one message."""
    auth = ctx.spec.auth
    if auth is not None and path == auth.url_path():
        return Conversation.of(path, "hello", query={auth.token: "t"})
    return Conversation.of(path)


def _is_auth(ctx: Context, path: str) -> bool:
    return ctx.spec.auth is not None and path == ctx.spec.auth.url_path()


def _owner(ctx: Context, path: str) -> str:
    """The check whose own line is that a plain client of ``path`` is let in."""
    return "auth.token" if _is_auth(ctx, path) else "echo.accept"


def _let_in(ctx: Context, obs: Observation) -> bool:
    """Whether the endpoint let this client in: on the echo endpoint, an accepted handshake;
    on the credentials endpoint, a client that was also answered (a refusal there may be
    accept-then-close)."""
    if _is_auth(ctx, obs.conversation.path):
        return served(obs)
    return obs.observed[:1] == (Accepted(),)


def _refusal(obs: Observation) -> Event:
    """The event that shows how ``obs`` was refused: the handshake, or the close after it."""
    if obs.observed[:1] == (Accepted(),):
        return next((e for e in obs.observed[1:] if not isinstance(e, Text)),
                    obs.observed[-1])
    return obs.observed[0] if obs.observed else Refused()


def diagnose_refusal(path: str, refusal: Event) -> str:
    """The likely causes when a plain client of ``path`` is refused: said once, by the check
    that owns the handshake, instead of a transcript in every check."""
    how = describe(refusal)
    causes = [f"no route of the app matches the path {path!r} (the spec's path, or a URL "
              "prefix, may be wrong)", "the endpoint refuses before accepting"]
    if isinstance(refusal, Refused) and refusal.status == 403:
        causes[0] += " (uvicorn and most servers answer 403 for an unmatched WebSocket path)"
    if isinstance(refusal, Refused) and refusal.close_code == 1000:
        causes[0] += " (Starlette's router closes with 1000 before accepting when no route matches)"
    return (f"a plain client of {path} was refused ({how}); likely causes: "
            + "; or ".join(causes))

#: While :func:`all_agree` runs conversations at once, a reply is waited for at most this many
#: times the slowest reply the driver has seen in the run, and at least ``AT_ONCE_FLOOR``
#: seconds (never more than the timeout): only agreement is taken from that run, and a reply
#: cut short disagrees, so a missing reply is waited out at the full timeout once, by the
#: conversations run one after another, not twice.
AT_ONCE_FACTOR = 4.0
AT_ONCE_FLOOR = 0.5


def at_once_bound(ctx: Context) -> float | None:
    """How long :func:`all_agree` waits for a reply (see ``AT_ONCE_FACTOR``); None: the
    timeout (a driver that keeps no reply times)."""
    replies = getattr(ctx.driver, "replies", None)
    if replies is None:
        return None
    bound = max(AT_ONCE_FLOOR, AT_ONCE_FACTOR * replies.slowest)
    outer = REPLY_BOUND.get()
    if outer is not None:
        bound = min(bound, outer)
    return bound if bound < ctx.driver.timeout else None


def _cut_short(obs: Observation, timeout: float) -> bool:
    """Whether a wait of ``obs`` ended in silence before the full timeout."""
    return any(isinstance(e, Silence) and 0 < e.seconds < timeout for e in obs.observed)


async def observe_all(ctx: Context, conversations: Iterable[Conversation], *,
                      quiet: bool = True) -> list[Observation]:
    """The observations of independent conversations, in the order given, with up to
    ``ctx.concurrency`` of them running at the same time on the kit's loop: their waits
    (above all the quiet window each one ends with) overlap instead of adding up. Each keeps
    its own connection, transcript and model. When one raises, the others are cancelled
    (their connections dropped) before the error goes on."""
    gate = asyncio.Semaphore(max(1, ctx.concurrency))

    async def one(conversation: Conversation) -> Observation:
        async with gate:
            return await run_conversation(ctx.driver, ctx.spec, conversation, quiet=quiet)

    tasks = [asyncio.ensure_future(one(c)) for c in conversations]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def all_agree(ctx: Context, conversations: Sequence[Conversation],
                    agrees: Callable[[Observation], bool]) -> list[Observation] | None:
    """The fast path of a check that runs several independent conversations: run them at
    once (see :func:`observe_all`) and return their observations when every one ``agrees``.

    None when any disagrees, and always with a concurrency of 1 or a single conversation:
    then the check runs them one after another, as it always did, and judges those. A client
    that is alone on the target is what the checks' lines speak of; an app that lets
    connections interfere (a broadcast, replies sent to the latest client) would otherwise
    fail a check for a defect that is the isolation checks' own. So concurrency only ever
    speeds up the verdict that every conversation agrees; a failure, and its evidence, always
    comes from conversations run alone.

    In-process there is nothing to gain (silence is known at once, and the app shares the
    kit's one loop and CPU), so there the conversations always run one after another and a
    run in-process is exactly what it was.

    A reply is waited for at most :func:`at_once_bound` here; a conversation whose wait was
    cut short (or ended in silence before the timeout for any reason) never agrees.
    """
    if ctx.concurrency <= 1 or len(conversations) <= 1 or ctx.driver.kind == "asgi":
        return None
    # Its waits cut short decide nothing (only agreement is taken): not counted as such.
    token, counted = REPLY_BOUND.set(at_once_bound(ctx)), CUT_SHORT.set(None)
    try:
        observed = await observe_all(ctx, conversations)
    finally:
        CUT_SHORT.reset(counted)
        REPLY_BOUND.reset(token)
    timeout = ctx.driver.timeout
    return observed if all(agrees(obs) and not _cut_short(obs, timeout)
                           for obs in observed) else None


async def unserved(ctx: Context, obs: Observation) -> Verdict | None:
    """An inconclusive verdict when ``obs`` was not let in although the model expected it to
    be *and* the plainest client of the same endpoint is not let in either: then the check's
    own line was never observed, and the check owning the handshake says why. None when
    ``obs`` was let in, or when only this conversation was refused (then the refusal is the
    check's own failure)."""
    if obs.expected[:1] != (Accepted(),) or _let_in(ctx, obs):
        return None
    if _is_auth(ctx, obs.conversation.path) and not any(
            isinstance(e, Text) for e in obs.expected):
        return None  # a refusal is what the model expects here
    return await refuses_everyone(ctx, obs.conversation.path, evidence=obs)


async def refuses_everyone(ctx: Context, *paths: str,
                           evidence: Observation | None = None) -> Verdict | None:
    """Precondition of a check: a plain client of every endpoint it uses is let in (see
    :func:`control`). When one is not, nothing the check judges could be observed: an
    inconclusive verdict that says so once, with the likely causes, instead of a transcript
    per check. ``evidence`` is the check's own refused conversation, shown if given."""
    controls = [control(ctx, path) for path in paths]
    if await all_agree(ctx, controls, lambda ctl: _let_in(ctx, ctl)) is not None:
        return None
    for path in paths:
        ctl = await run_conversation(ctx.driver, ctx.spec, control(ctx, path))
        if not _let_in(ctx, ctl):
            return Verdict.unobserved(
                f"precondition failed: {diagnose_refusal(path, _refusal(ctl))}; nothing this "
                f"check judges could be observed (see {_owner(ctx, path)})", evidence or ctl)
    return None


def unanswered_before_subject(obs: Observation, project: Projection) -> Verdict | None:
    """An inconclusive verdict when the server fell silent where a reply this check does not
    judge was due (the projection drops it), and everything before agreed: reading stopped
    there, so what the check judges (a close, a farewell) was never reached. The echo checks
    judge the missing reply; this check cannot vouch for its line either way."""
    cut = next((k for k, e in enumerate(obs.observed) if isinstance(e, Silence)), None)
    if cut is None or cut >= len(obs.expected):
        return None
    due = obs.expected[cut]
    if not isinstance(due, Text) or project((due,)):
        return None
    if project(obs.observed[:cut]) != project(obs.expected[:cut]):
        return None
    return Verdict.unobserved(
        f"precondition failed: the server did not answer {describe(due)} in time, so reading "
        "stopped before what this check judges (the echo checks judge the missing reply)", obs)


async def compare(
    ctx: Context,
    conversations: Iterable[Conversation],
    *,
    problem: str,
    project: Projection | None = None,
    owns_handshake: bool = False,
) -> Verdict:
    """Run conversations one after another; fail on the first whose transcript differs
    (when they all agree, that is known sooner by running them at once: see
    :func:`all_agree`).

    ``project`` maps both transcripts before comparing, so that a check judges only its own
    line of the brief (``bye.sequence`` ignores the close code that ``bye.close-code`` judges).
    A conversation refused where a plain client is refused too leaves the check inconclusive
    (see :func:`unserved`), unless the check ``owns_handshake``: then that refusal is its
    failure, with the likely causes.
    """
    convs = list(conversations)
    together = await all_agree(ctx, convs, lambda obs: _agrees(obs, project))
    if together is not None:
        return Verdict(observation=together[-1])  # a pass keeps its evidence, for reports
    last: Observation | None = None
    for conversation in convs:
        last = obs = await run_conversation(ctx.driver, ctx.spec, conversation)
        verdict = await _judge(ctx, obs, problem, project, owns_handshake)
        if verdict is not None:
            return verdict
    return Verdict(observation=last)  # a pass keeps its evidence, for reports


def _agrees(obs: Observation, project: Projection | None) -> bool:
    if project is None:
        return obs.expected == obs.observed
    return project(obs.expected) == project(obs.observed)


async def _judge(ctx: Context, obs: Observation, problem: str, project: Projection | None,
                 owns_handshake: bool) -> Verdict | None:
    """The verdict of :func:`compare` on one observation: None when it agrees."""
    if _agrees(obs, project):
        return None
    late = unanswered_before_subject(obs, project) if project is not None else None
    if late is not None:
        return late
    gap = await unserved(ctx, obs)
    if gap is None:
        return Verdict(problem, obs)
    if not owns_handshake:
        return gap
    refusal = _refusal(obs)
    return Verdict(f"{problem}: the client was not let in ({describe(refusal)})", obs,
                   notes=(f"diagnosis: {diagnose_refusal(obs.conversation.path, refusal)}",))


def keep_texts(keep: Callable[[str], bool]) -> Projection:
    """A projection that drops the text messages a check does not judge (``keep`` says which
    to keep) and leaves every other event — accept, close, silence, crash — in place."""

    def project(transcript: tuple[Event, ...]) -> tuple[Event, ...]:
        return tuple(e for e in transcript if not isinstance(e, Text) or keep(e.text))

    return project


def any_close_code(transcript: tuple[Event, ...]) -> tuple[Event, ...]:
    """A projection that keeps closes but not their codes (judged by their own checks)."""
    return tuple(Closed(0) if isinstance(e, Closed) else e for e in transcript)


def unsendable_close(close: Closed) -> str | None:
    """What is wrong with a close no server can send as the app asked for it (a reason over
    what a close frame carries, seen only in-process), or None."""
    size = close.reason_size
    if size <= MAX_CLOSE_REASON:
        return None
    return (f"the close carries a reason of {size} bytes of UTF-8, more than the "
            f"{MAX_CLOSE_REASON} a close frame can hold (RFC 6455 §5.5): no server can send it "
            "as it is (uvicorn with websockets drops the connection without a close frame, "
            "wsproto cuts the reason)")


def template_matcher(template: str, **fixed: object) -> Callable[[str], bool]:
    """Whether a text is an instance of ``template``: fields in ``fixed`` must have that
    value, any other field matches anything. Used to pick out one kind of reply line (say,
    the credential line) whatever is wrong with the others."""
    pattern = ""
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is not None:
            pattern += re.escape(str(fixed[name])) if name in fixed else "(?s:.*)"
    compiled = re.compile(pattern, re.DOTALL)
    return lambda text: compiled.fullmatch(text) is not None


def served(obs: Observation) -> bool:
    """Whether the server accepted the conversation and answered it at all. A check that
    judges one aspect of the answers cannot vouch for its line when there were none."""
    return obs.observed[:1] == (Accepted(),) and any(isinstance(e, Text) for e in obs.observed)


def refusal_form(obs: Observation, code: int) -> str | None:
    """How the observed transcript refused: ``"accept-close"`` (the reference form),
    ``"before-accept"`` (close before accept, in-process or HTTP 403 on the wire), or None if
    it did not refuse."""
    if obs.observed == (Accepted(), Closed(code)):
        return "accept-close"
    if obs.observed in ((Refused(close_code=code),), (Refused(status=403),)):
        return "before-accept"
    return None


def what_refusal(obs: Observation) -> str:
    """What a client that should have been refused observed, in words that match the
    observed column: a refusal before the handshake completed (whose close code, if any, never
    reaches a network client), a close after accept, or a client let in."""
    first = obs.observed[0] if obs.observed else None
    if isinstance(first, Refused):
        if first.status is not None:
            return (f"it was refused before the handshake completed (HTTP {first.status}), so "
                    "no close code reached the client")
        return f"it was refused before the handshake completed, with close {first.close_code}"
    if first == Accepted():
        closes = [e for e in obs.observed if isinstance(e, Closed)]
        texts = [e for e in obs.observed if isinstance(e, Text)]
        if texts:
            return f"it was let in and got {len(texts)} message(s)" + (
                f", then a close {closes[0].code}" if closes else "")
        if closes:
            return f"it was accepted, then closed with {closes[0].code}"
        return "it was let in: accepted, and no close came"
    return f"the handshake gave: {describe(first) if first is not None else 'nothing'}"


def marker(client: int) -> str:
    """The tag put in every message of one client of a multi-client check: no client's tag
    is part of another's (the closing bracket sees to ``c1`` against ``c10``), so any text
    that carries it came from that client's messages, whatever shape the leak took."""
    return f"«c{client}»"


Leak = tuple[int, int, str]


def find_leak(transcripts: Sequence[Sequence[Event]],
              tags: Sequence[Collection[str]]) -> Leak | None:
    """Isolation by provenance: the first text on one connection that carries a tag of
    another client (``tags[j]`` are client ``j``'s), as (receiver, owner, text); None when
    every text stayed with its client. A broadcast, a reply to the wrong client, another
    client's words glued to a reply: each carries the other client's tag."""
    for i, events in enumerate(transcripts):
        for event in events:
            if not isinstance(event, Text):
                continue
            for j, owned in enumerate(tags):
                if j != i and any(tag in event.text for tag in owned):
                    return i, j, event.text
    return None


def leak_problem(leak: Leak, names: Sequence[str], tags: Sequence[Collection[str]]) -> str:
    """The failure text of a leak: who got what, carrying whose tag."""
    receiver, owner, text = leak
    tag = next(t for t in tags[owner] if t in text)
    return (f"{names[receiver]} got a message carrying {names[owner]}'s tag {tag}: "
            f"{_clip(text)!r} (every message of a client carries its own tag; another "
            "client's tag on this connection is a leak)")


def every_client(observations: Sequence[Observation], names: Sequence[str]) -> str:
    """Every client of a multi-client run, each with its conversation and transcripts."""
    return "\n\n".join(f"{name}:\n{obs}" for name, obs in zip(names, observations))


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def format_failure(chk: Check, verdict: Verdict) -> str:
    """The failure (or inconclusive) text: id, level and protocol line, what is wrong (or why
    nothing could be judged), then the observation (conversation, expected and observed side
    by side, see :meth:`Observation.__str__`)."""
    said = (verdict.problem if verdict.problem is not None
            else f"inconclusive: {verdict.inconclusive}")
    lines = [
        f"{chk.id} [{chk.level}]: {said}",
        f"protocol {chk.line}: {chk.description}",
    ]
    if verdict.observation is not None:
        lines += ["", str(verdict.observation)]
    if verdict.trace:
        lines += ["", "frames (→ sent by the kit, ← received):", *verdict.trace]
    lines += [*verdict.notes]
    return "\n".join(lines)


def ordinary(ctx: Context, messages: Iterable[str]) -> list[str]:
    """The messages minus the bye word, so that echo checks never end the chat by accident."""
    bye = ctx.spec.echo.bye if ctx.spec.echo else None
    return [m for m in messages if m != bye]


def lockstep(ctx: Context, *messages: str) -> Conversation:
    """A lock-step conversation on the echo endpoint with ``messages`` (bye word left out)."""
    assert ctx.spec.echo is not None
    return Conversation.of(ctx.spec.echo.url_path(), *ordinary(ctx, messages))
