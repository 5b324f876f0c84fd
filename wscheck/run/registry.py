"""What a check is, and the registry that holds the suite.

A check is a stable id (it names tests, JUnit cases, report rows and known-failure lists), a
level, the protocol line it enforces, a description and an async function judging what a
driver observed against the model. Check modules register with :func:`check` on import;
:data:`SUITE` imports them the first time it is read, so code that needs only the ids does
not import the checks. Shared pieces live below the checks (:mod:`wscheck.run.conversation`,
:mod:`wscheck.checks.judging`, :mod:`wscheck.generation.runner`); docs/checks-api.md says
where a new check goes.
"""

from __future__ import annotations

import contextvars
import importlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Literal

from wscheck.core.defaults import DEFAULT_CONCURRENCY, DEFAULT_EXAMPLES_ASGI, DEFAULT_IDLE_WATCH
from wscheck.core.spec import Spec
from wscheck.drivers.base import Driver
from wscheck.errors import WscheckError

if TYPE_CHECKING:
    from wscheck.drivers.raw import RawDriver
    from wscheck.run.conversation import Observation

__all__ = [
    "BESIDE_OTHERS",
    "CONFIRMING_ALONE",
    "RFC6455",
    "SUITE",
    "SUITES",
    "Check",
    "CheckFn",
    "Context",
    "Family",
    "Inconclusive",
    "Level",
    "Need",
    "Outcome",
    "Registry",
    "Unconcluded",
    "Verdict",
    "check",
    "find_check",
    "suite_checks",
]

Level = Literal["MUST", "SHOULD"]
#: What a check needs of the spec to apply: an endpoint (``"endpoint"``: the echo or the
#: credentials one), the bye word, a broadcast room or one of its notices.
Need = Literal["echo", "bye", "auth", "endpoint", "broadcast", "join-notice", "leave-notice"]


@dataclass(frozen=True)
class Context:
    """What a check may use: the protocol, a driver for the target, and how many generated
    examples each property check should try."""

    spec: Spec
    driver: Driver
    examples: int = DEFAULT_EXAMPLES_ASGI
    #: How many independent conversations of one check may run at once (1: one after
    #: another); see :func:`wscheck.checks.judging.observe`.
    concurrency: int = DEFAULT_CONCURRENCY
    #: Seconds a time probe watches an idle connection, or pauses before it speaks again
    #: (protocol ``/ws`` 3: however long the connection stays idle, nothing changes).
    idle_watch: float = DEFAULT_IDLE_WATCH
    #: The rfc6455 suite's raw client for the endpoint under test (None for the chat suite).
    raw: RawDriver | None = None


#: Why a check could not conclude: its precondition failed (what it judges never happened),
#: or what it judges cannot be seen through this kind of target (a server's log over the
#: network). Only the second kind lets a run end with exit status 0.
Unconcluded = Literal["precondition", "unobservable"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: pass, fail, or inconclusive.

    ``problem`` says what is wrong (a failure). ``inconclusive`` says why the check could not
    judge its line at all, and ``unconcluded`` which kind of reason that is; such a check has
    not *observed* the target conforming, so it is never counted as a pass. ``notes`` explain
    a pass that needs explaining (e.g. a 403 accepted as the wire form of a close before
    accept). ``observation`` is the evidence: the failing conversation, or the one that shows
    why nothing could be judged.
    """

    problem: str | None = None
    observation: Observation | None = None
    notes: tuple[str, ...] = ()
    inconclusive: str | None = None
    unconcluded: Unconcluded = "precondition"
    #: A pass that saw texts the model did not predict, which its line does not judge (an
    #: isolation check that found no leak, but other texts on its clients): beside other
    #: checks those may be other checks' traffic hiding what it judges, so such a pass is
    #: taken only from a run alone (see :mod:`wscheck.run.schedule`).
    trusted_alone_only: bool = field(default=False, compare=False)
    #: The rfc6455 suite's words beside pass and fail (Autobahn|Testsuite's vocabulary):
    #: ``informational`` is a fact shown and counted that never changes the exit status (a
    #: timing, a failure noticed late); ``non_strict`` marks ``problem`` as allowed but not
    #: what the RFC asks (a SHOULD, warned about whatever the check's level);
    #: ``not_applicable`` says the target does not take part (no extension agreed).
    informational: str | None = None
    non_strict: bool = False
    not_applicable: str | None = None
    #: The frames exchanged, one line each (the rfc6455 suite's evidence), bounded.
    trace: tuple[str, ...] = ()
    #: A verdict that is not a pass, given beside other checks without finishing (a property
    #: that stopped at its first failure, see :data:`BESIDE_OTHERS`): never a run's verdict,
    #: the schedule always runs the check again alone.
    unfinished: bool = field(default=False, compare=False)

    @property
    def passed(self) -> bool:
        """Observed conforming: no problem, and the check could judge its line."""
        return (self.problem is None and self.inconclusive is None
                and self.not_applicable is None)

    @property
    def is_inconclusive(self) -> bool:
        return self.problem is None and self.inconclusive is not None

    @classmethod
    def unobserved(cls, reason: str, observation: Observation | None = None, *,
                   unobservable: bool = False) -> Verdict:
        """An inconclusive verdict: a precondition failed (``reason`` names it), or, with
        ``unobservable``, the behaviour cannot be seen through this target kind."""
        return cls(observation=observation, inconclusive=reason,
                   unconcluded="unobservable" if unobservable else "precondition")


#: True while a check runs beside other checks on the schedule (:mod:`wscheck.run.schedule`),
#: where only a pass is taken from it: a property that meets a failure there may stop at once
#: with an ``unfinished`` verdict rather than find and shrink a counterexample, since its run
#: alone does that again and is the verdict.
BESIDE_OTHERS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "wscheck_beside_others", default=False)

#: True while the schedule runs a check again alone to confirm a verdict beside others that
#: was not a pass: a property then runs its examples one after another straight away, as with
#: a concurrency of 1. Its overlapping pass, taken only when every example agrees, would meet
#: again what made it stray (examples interfering, a defect) and wait it out again for nothing.
CONFIRMING_ALONE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "wscheck_confirming_alone", default=False)


class Inconclusive(WscheckError):
    """Raised inside a check when a precondition failed (as Hypothesis's ``assume``): the
    check's verdict is then :meth:`Verdict.unobserved` with these arguments (see
    :meth:`Check.run`), so that a check states a precondition once instead of returning it."""

    def __init__(self, reason: str, observation: Observation | None = None, *,
                 unobservable: bool = False) -> None:
        super().__init__(reason)
        self.verdict = Verdict.unobserved(reason, observation, unobservable=unobservable)


CheckFn = Callable[[Context], Awaitable[Verdict]]
#: Makes the checks a spec calls for (see :meth:`Registry.family`).
Family = Callable[[Spec], "list[Check]"]


class Outcome(str, Enum):
    """What a run makes of one check, in the words of the reports and the summary: first
    the check's own word for its verdict, then that word settled by pytest's outcome. The
    values are the report's strings (``docs/report-schema.md``), in summary order."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INCONCLUSIVE = "inconclusive"
    XFAIL = "xfail"
    XPASS = "xpass"
    ERROR = "error"
    SKIP = "skip"
    #: Shown and counted, never a failure: the rfc6455 suite's INFORMATIONAL.
    INFORMATIONAL = "informational"
    #: The check's own word for a spec it says nothing about; a report says ``skip``.
    NOT_APPLICABLE = "not applicable"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    """One conformance check (see the module docstring)."""

    id: str
    level: Level
    line: str
    description: str
    needs: frozenset[Need]
    fn: CheckFn = field(repr=False, compare=False)
    #: What the check assumes of the target before it can judge its line; when that fails
    #: the check is inconclusive, never passed (see docs/checks.md, Verdicts).
    precondition: str = field(default="", compare=False)
    #: The check spends its time waiting on the clock (a watched idle connection, a pause),
    #: not on the CPU: a run starts it early, beside the others (see
    #: :mod:`wscheck.run.schedule`), so its seconds overlap theirs.
    waits: bool = field(default=False, compare=False)
    #: The check takes the target's process past counts (connections, messages, byes) no
    #: other check reaches: a run gives it its turn after every other check's, alone (see
    #: :mod:`wscheck.run.schedule`), so that a defect it brings out reaches no other verdict.
    last: bool = field(default=False, compare=False)
    #: Checks with the same ``serial`` never have connections open at the same time (a
    #: broadcast room's scenarios take one lock per driver): one that ran beside only such
    #: checks ran as if alone, and its verdict needs no run alone to confirm it (see
    #: :mod:`wscheck.run.schedule`).
    serial: str | None = field(default=None, compare=False)

    @property
    def area(self) -> str:
        """The part of the id before the first dot: ``echo`` for ``echo.exact``."""
        return self.id.split(".", 1)[0]

    @property
    def suite(self) -> str:
        """The bundled suite the check belongs to: ``rfc6455`` or ``chat``."""
        return "rfc6455" if self.area == "rfc6455" else "chat"

    def not_applicable(self, spec: Spec) -> str | None:
        """Why this check says nothing about ``spec`` (e.g. it has no bye word), or None."""
        if self.suite == "rfc6455":
            return None  # the endpoint is the URL itself, whatever the chat spec says
        if "echo" in self.needs and spec.echo is None:
            return "the spec has no echo endpoint"
        if "bye" in self.needs and (spec.echo is None or spec.echo.bye is None):
            return "the spec has no bye word"
        if "auth" in self.needs and spec.auth is None:
            return "the spec has no credentials endpoint"
        if "endpoint" in self.needs and spec.echo is None and spec.auth is None:
            return "the spec has neither an echo nor a credentials endpoint"
        room = spec.broadcast
        if {"broadcast", "join-notice", "leave-notice"} & self.needs and room is None:
            return "the spec has no broadcast room"
        if "join-notice" in self.needs and room is not None and room.join_notice is None:
            return "the spec's broadcast room has no join notice"
        if "leave-notice" in self.needs and room is not None and room.leave_notice is None:
            return "the spec's broadcast room has no leave notice"
        return None

    async def run(self, ctx: Context) -> Verdict:
        """The check's verdict; an :class:`Inconclusive` it raised is its verdict too."""
        try:
            return await self.fn(ctx)
        except Inconclusive as exc:
            return exc.verdict


class Registry(Mapping[str, Check]):
    """Checks by id, in suite order: by area (in the order given), then as registered.

    ``modules`` are imported the first time the registry is read; importing them registers
    their checks (with :meth:`check`). A check whose area is not listed is refused when it
    registers, so that every check has a place in the suite order.
    """

    def __init__(self, areas: Sequence[str], modules: Iterable[str] = ()) -> None:
        self._areas = tuple(areas)
        self._modules = tuple(modules)
        self._loaded = not self._modules
        self._checks: dict[str, Check] = {}
        self._families: list[Family] = []

    def add(self, chk: Check) -> Check:
        """Register ``chk``; ids are unique and the area must be one of the registry's."""
        if chk.id in self._checks:
            raise ValueError(f"duplicate check id {chk.id!r}")
        if chk.area not in self._areas:
            raise ValueError(f"check {chk.id!r} is in no known area {self._areas}")
        self._checks[chk.id] = chk
        return chk

    def check(
        self, id: str, level: Level, line: str, description: str, needs: Iterable[Need],
        precondition: str = "", waits: bool = False, last: bool = False,
        serial: str | None = None,
    ) -> Callable[[CheckFn], CheckFn]:
        """A decorator that registers the function as the check ``id``; ``precondition``
        says what it assumes before it can judge (the catalogue lists it), ``waits`` that
        it mostly waits on the clock (see :attr:`Check.waits`), ``last`` that it runs after
        every other (see :attr:`Check.last`), ``serial`` the lock its connections take (see
        :attr:`Check.serial`)."""

        def register(fn: CheckFn) -> CheckFn:
            self.add(Check(id, level, line, description, frozenset(needs), fn, precondition,
                           waits, last, serial))
            return fn

        return register

    def _load(self) -> dict[str, Check]:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)
        return self._checks

    def __getitem__(self, check_id: str) -> Check:
        return self._load()[check_id]

    def __iter__(self) -> Iterator[str]:
        checks = self._load()
        order = sorted(checks.values(), key=lambda c: self._areas.index(c.area))
        return iter([c.id for c in order])

    def __len__(self) -> int:
        return len(self._load())

    def all(self) -> list[Check]:
        """Every check, in suite order."""
        return [self[i] for i in self]

    def family(self, area: str) -> Callable[[Family], Family]:
        """A decorator that registers a function making the checks of ``area`` for a spec:
        checks whose ids come from the spec itself (an AsyncAPI document's operation ids)."""
        if area not in self._areas:
            raise ValueError(f"family {area!r} is in no known area {self._areas}")

        def register(make: Family) -> Family:
            self._families.append(make)
            return make

        return register

    def for_spec(self, spec: Spec) -> list[Check]:
        """Every check of a run against ``spec``: the fixed ones, then those its families make
        for it (none for a chat protocol, so its suite is :meth:`all`). An AsyncAPI
        document's API (a spec with no chat endpoint) is judged by its own checks alone: the
        chat's would all be not applicable."""
        checks = self.all()
        made = [chk for make in self._families for chk in make(spec)]
        if made and spec.echo is None and spec.auth is None and spec.broadcast is None:
            checks = []
        for chk in made:
            if chk.area not in self._areas or chk.id in self._checks:
                raise ValueError(f"check {chk.id!r} is in no known area or not unique")
        return checks + made


#: The bundled suite, in the order of the protocol brief.
SUITE = Registry(
    areas=("echo", "bye", "isolation", "auth", "broadcast", "robust", "prop", "asyncapi"),
    modules=("wscheck.checks",),
)

#: Registers a check of the bundled suite.
check = SUITE.check

#: The second bundled suite: RFC 6455 itself, a server's handling of what a client sends
#: (docs/rfc6455.md). A registry of its own, so that the chat suite is unchanged by it.
RFC6455 = Registry(areas=("rfc6455",), modules=("wscheck.checks.rfc6455",))

#: The suites by the name ``--wscheck-suite`` takes (``all`` is both, chat first).
SUITES: dict[str, tuple[Registry, ...]] = {
    "chat": (SUITE,), "rfc6455": (RFC6455,), "all": (SUITE, RFC6455)}


def suite_checks(name: str, spec: Spec | None = None) -> list[Check]:
    """Every check of the suite ``name`` (``chat``, ``rfc6455`` or ``all``), in order; with
    ``spec``, the checks its families make for it too (an AsyncAPI document's)."""
    return [chk for registry in SUITES[name]
            for chk in (registry.all() if spec is None else registry.for_spec(spec))]


def find_check(check_id: str, spec: Spec | None = None) -> Check | None:
    """The check ``check_id`` of either bundled suite (with ``spec``, of the checks made for
    it too), or None."""
    registry = RFC6455 if check_id.startswith("rfc6455.") else SUITE
    if spec is not None and check_id not in registry:
        return next((c for c in registry.for_spec(spec) if c.id == check_id), None)
    return registry.get(check_id)
