"""One check's record: what it found and what the run made of it, from the check's test item
through the collector to the terminal summary and the JSON and HTML reports.

The record is a frozen value. It becomes plain JSON values twice only: on its way from a
pytest-xdist worker to the controller (:meth:`CheckRecord.to_wire`, which execnet can carry,
and :meth:`CheckRecord.from_wire`), and as a ``checks`` entry of the JSON report
(:meth:`CheckRecord.to_json`, ``docs/report-schema.md``). The evidence it holds (the
conversation, both transcripts) is already JSON: masked and clipped once, when the record is
made, so that neither a worker's message nor a report carries a whole 16 MiB text.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wscheck.core.codec import conversation_to_json, event_to_json
from wscheck.core.limits import CLIP_BYTES, clip
from wscheck.core.render import first_difference
from wscheck.run.registry import Check, Level, Outcome, Unconcluded, Verdict

__all__ = ["DIAGNOSIS", "JSON", "CheckRecord", "clip_json"]

JSON = Any

#: How a note that says why a check failed begins; the summary shows those under the failure.
DIAGNOSIS = "diagnosis: "

#: The fields of an event that hold a text the target chose.
_TEXT_FIELDS = ("text", "reason", "exception", "problem", "message", "logger")


def clip_json(item: dict[str, JSON]) -> dict[str, JSON]:
    """An event's JSON with its texts clipped to :data:`~wscheck.core.limits.CLIP_LENGTH`
    characters and a binary payload to :data:`~wscheck.core.limits.CLIP_BYTES` bytes (``size``
    keeps the real size, so a ``base64`` shorter than ``size`` says it was clipped)."""
    out = dict(item)
    for key in _TEXT_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = clip(out[key])
    if out.get("type") == "binary" and isinstance(out.get("size"), int) \
            and out["size"] > CLIP_BYTES:
        head = base64.b64decode(out["base64"])[:CLIP_BYTES]
        out["base64"] = base64.b64encode(head).decode("ascii")
    return out


@dataclass(frozen=True)
class CheckRecord:
    """One check of a run. ``outcome`` is the check's own word (``pass``, ``warn``, ``not
    applicable``, ...); ``verdict`` is the report's, settled from pytest's outcome for the
    item (``xfail``, ``error``, ...) by the collector. The other fields are the report's
    ``checks`` entry (``docs/report-schema.md``), credentials masked unless the run shows
    them and texts the target sent clipped."""

    id: str
    level: Level
    line: str
    description: str
    verdict: Outcome = Outcome.ERROR
    duration: float = 0.0
    message: str | None = None
    problem: str | None = None
    inconclusive: str | None = None
    unconcluded: Unconcluded | None = None
    notes: tuple[str, ...] = ()
    conversation: JSON = None
    expected: tuple[JSON, ...] = ()
    observed: tuple[JSON, ...] = ()
    first_difference: int | None = None
    aftermath: JSON = None
    replay: str | None = None
    outcome: Outcome = Outcome.ERROR
    #: The frames exchanged (the rfc6455 suite), one line each, clipped.
    trace: tuple[str, ...] = ()

    @classmethod
    def of(cls, check: Check, outcome: Outcome, verdict: Verdict | None = None,
           shown: Verdict | None = None, replay: str | None = None) -> CheckRecord:
        """The record of ``check`` as its item makes it: ``outcome`` and, from ``shown``
        (``verdict`` as :func:`~wscheck.reporting.redaction.redact_verdict` shows it), the
        problem, notes and evidence. ``verdict`` itself gives the first difference only,
        which is found before masking: two masked texts may look alike and still differ."""
        record = cls(check.id, check.level, check.line, check.description, outcome=outcome,
                     replay=replay)
        if verdict is None or shown is None:
            return record
        raw, obs = verdict.observation, shown.observation
        evidence: dict[str, Any] = {}
        if raw is not None and obs is not None:
            evidence.update(
                conversation=conversation_to_json(obs.conversation),
                expected=tuple(clip_json(event_to_json(e)) for e in obs.expected),
                observed=tuple(clip_json(event_to_json(e)) for e in obs.observed),
                first_difference=first_difference(raw.expected, raw.observed),
                aftermath=(clip_json(event_to_json(obs.aftermath))
                           if obs.aftermath is not None else None))
        if shown.is_inconclusive and shown.inconclusive is not None:
            evidence.update(inconclusive=shown.inconclusive, unconcluded=shown.unconcluded)
        if shown.trace:
            evidence.update(trace=tuple(clip(line) for line in shown.trace))
        said = (shown.informational, shown.not_applicable)  # shown and counted: as notes
        notes = (*shown.notes, *(s for s in said if s))
        return dataclasses.replace(record, problem=shown.problem, notes=notes, **evidence)

    @property
    def where(self) -> str:
        """``echo.exact [MUST]``: the check as the summary names it."""
        return f"{self.id} [{self.level}]"

    @property
    def diagnoses(self) -> tuple[str, ...]:
        """The notes that say why the check failed (``diagnosis: ...``)."""
        return tuple(note for note in self.notes if note.startswith(DIAGNOSIS))

    def to_json(self) -> dict[str, JSON]:
        """The report's ``checks`` entry, in the schema's order (``outcome`` stays out)."""
        return {
            "id": self.id, "level": self.level, "line": self.line,
            "description": self.description, "verdict": self.verdict.value,
            "duration": self.duration, "message": self.message, "problem": self.problem,
            "inconclusive": self.inconclusive, "unconcluded": self.unconcluded,
            "notes": list(self.notes), "conversation": self.conversation,
            "expected": list(self.expected), "observed": list(self.observed),
            "first_difference": self.first_difference, "aftermath": self.aftermath,
            "replay": self.replay, "trace": list(self.trace),
        }

    def to_wire(self) -> dict[str, JSON]:
        """The record as plain JSON values, which execnet carries from an xdist worker."""
        return {**self.to_json(), "outcome": self.outcome.value}

    @classmethod
    def from_wire(cls, data: Mapping[str, JSON]) -> CheckRecord:
        """The record :meth:`to_wire` gave."""
        return cls(
            data["id"], data["level"], data["line"], data["description"],
            Outcome(data["verdict"]), data["duration"], data["message"], data["problem"],
            data["inconclusive"], data["unconcluded"], tuple(data["notes"]),
            data["conversation"], tuple(data["expected"]), tuple(data["observed"]),
            data["first_difference"], data["aftermath"], data["replay"],
            Outcome(data["outcome"]), tuple(data.get("trace", ())))
