"""The conformance checks: one named check per line of the protocol brief.

A check is an id, a level, the protocol line it enforces, a one-line description and an async
function that builds conversations, runs them through whatever driver it is given and judges
the observations against the model. No check imports a driver and no driver knows a check.

Ids are stable: they name tests, JUnit cases, report rows and known-failure lists.
"""

from __future__ import annotations

import re
import string
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from wscheck.drivers.base import Driver
from wscheck.events import Accepted, Closed, Conversation, Event, Text, describe
from wscheck.render import render_conversation, side_by_side
from wscheck.runner import Observation, run_conversation
from wscheck.spec import Spec

__all__ = [
    "CHECKS",
    "Check",
    "Context",
    "Level",
    "Projection",
    "Verdict",
    "all_checks",
    "any_close_code",
    "check",
    "compare",
    "format_failure",
    "keep_texts",
    "served",
    "template_matcher",
]

Level = Literal["MUST", "SHOULD"]
Need = Literal["echo", "bye", "auth"]


@dataclass(frozen=True)
class Context:
    """What a check may use: the protocol, a driver for the target, and how many generated
    examples each property check should try."""

    spec: Spec
    driver: Driver
    examples: int = 100


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check.

    ``problem`` is None when the check passed. ``notes`` explain a pass that needs explaining
    (e.g. a 403 accepted as the wire form of a close before accept).
    """

    problem: str | None = None
    observation: Observation | None = None
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.problem is None


CheckFn = Callable[[Context], Awaitable[Verdict]]


@dataclass(frozen=True)
class Check:
    """One conformance check (see the module docstring)."""

    id: str
    level: Level
    line: str
    description: str
    needs: frozenset[Need]
    fn: CheckFn = field(repr=False, compare=False)

    def not_applicable(self, spec: Spec) -> str | None:
        """Why this check says nothing about ``spec`` (e.g. it has no bye word), or None."""
        if "echo" in self.needs and spec.echo is None:
            return "the spec has no echo endpoint"
        if "bye" in self.needs and (spec.echo is None or spec.echo.bye is None):
            return "the spec has no bye word"
        if "auth" in self.needs and spec.auth is None:
            return "the spec has no credentials endpoint"
        return None

    async def run(self, ctx: Context) -> Verdict:
        return await self.fn(ctx)


CHECKS: dict[str, Check] = {}


def check(
    id: str, level: Level, line: str, description: str, needs: Iterable[Need]
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under ``id`` (ids are unique; registration order is the
    order of the suite)."""

    def register(fn: CheckFn) -> CheckFn:
        if id in CHECKS:
            raise ValueError(f"duplicate check id {id!r}")
        CHECKS[id] = Check(id, level, line, description, frozenset(needs), fn)
        return fn

    return register


def all_checks() -> list[Check]:
    """Every check, in suite order."""
    from wscheck.checks import auth, bye, echo, properties, robustness  # noqa: F401  (registers)

    return sorted(CHECKS.values(), key=lambda c: _AREA_ORDER.index(c.id.split(".")[0]))


#: The suite runs in the order of the brief.
_AREA_ORDER = ["echo", "bye", "isolation", "auth", "robust", "prop"]


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


Projection = Callable[[tuple[Event, ...]], tuple[Event, ...]]


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


def format_failure(chk: Check, verdict: Verdict) -> str:
    """The failure text: id, level and protocol line, what is wrong, the conversation, and
    expected and observed transcripts side by side with the first difference marked."""
    lines = [
        f"{chk.id} [{chk.level}]: {verdict.problem}",
        f"protocol {chk.line}: {chk.description}",
    ]
    obs = verdict.observation
    if obs is not None:
        lines += ["", "conversation:", render_conversation(obs.conversation), "",
                  side_by_side(obs.expected, obs.observed)]
        if obs.aftermath is not None:
            lines += ["", "after the conversation, on the server side: "
                      + describe(obs.aftermath)]
    lines += [*verdict.notes]
    return "\n".join(lines)
