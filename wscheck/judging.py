"""Judging observations: the comparisons, projections and texts that checks share.

Checks are leaves: what more than one of them needs (comparing a run with the model, keeping
only the lines a check judges, telling how a refusal looked) lives here, below them, and so
does the failure text every interface prints.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable

from wscheck.events import Accepted, Closed, Conversation, Event, Refused, Text
from wscheck.registry import Check, Context, Verdict
from wscheck.runner import Observation, run_conversation

__all__ = [
    "WIRE_FORM_NOTE",
    "Projection",
    "any_close_code",
    "compare",
    "format_failure",
    "keep_texts",
    "lockstep",
    "ordinary",
    "refusal_form",
    "served",
    "template_matcher",
]

Projection = Callable[[tuple[Event, ...]], tuple[Event, ...]]

WIRE_FORM_NOTE = (
    "the app refuses the handshake (a close before accept); over a network that reaches "
    "clients as HTTP 403 and the 1008 is lost: 1008 is not observable on the wire"
)


async def compare(
    ctx: Context,
    conversations: Iterable[Conversation],
    *,
    problem: str,
    project: Projection | None = None,
) -> Verdict:
    """Run conversations one after another; fail on the first whose transcript differs.

    ``project`` maps both transcripts before comparing, so that a check judges only its own
    line of the brief (``bye.sequence`` ignores the close code that ``bye.close-code`` judges).
    """
    last: Observation | None = None
    for conversation in conversations:
        last = obs = await run_conversation(ctx.driver, ctx.spec, conversation)
        exp, got = obs.expected, obs.observed
        if project is not None:
            exp, got = project(exp), project(got)
        if exp != got:
            return Verdict(problem, obs)
    return Verdict(observation=last)  # a pass keeps its evidence, for reports


def keep_texts(keep: Callable[[str], bool]) -> Projection:
    """A projection that drops the text messages a check does not judge (``keep`` says which
    to keep) and leaves every other event — accept, close, silence, crash — in place."""

    def project(transcript: tuple[Event, ...]) -> tuple[Event, ...]:
        return tuple(e for e in transcript if not isinstance(e, Text) or keep(e.text))

    return project


def any_close_code(transcript: tuple[Event, ...]) -> tuple[Event, ...]:
    """A projection that keeps closes but not their codes (judged by their own checks)."""
    return tuple(Closed(0) if isinstance(e, Closed) else e for e in transcript)


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


def format_failure(chk: Check, verdict: Verdict) -> str:
    """The failure text: id, level and protocol line, what is wrong, then the observation
    (conversation, expected and observed side by side, see :meth:`Observation.__str__`)."""
    lines = [
        f"{chk.id} [{chk.level}]: {verdict.problem}",
        f"protocol {chk.line}: {chk.description}",
    ]
    if verdict.observation is not None:
        lines += ["", str(verdict.observation)]
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
