"""What the simulated users do and how their transcripts are judged, without Locust.

Conversations come from the kit's own generators (:mod:`wscheck.generation.strategies`) and are
judged
by the kit's own model through :func:`wscheck.run.conversation.run_conversation` (an AsyncAPI
document's requests, drawn from its schemas, by the rules of its checks through
:func:`wscheck.checks.asyncapi.rejudge`); this module only
sorts them into *kinds* (Locust's request names) and mismatches into *kinds of difference*
(Locust's failure messages), and turns conversations and verdicts into JSON and text.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.strategies import SearchStrategy

from wscheck.core.api import ApiOperation
from wscheck.core.codec import conversation_from_json, conversation_to_json
from wscheck.core.events import (
    Accepted,
    AppCrashed,
    AppExited,
    AppLogged,
    Binary,
    Closed,
    Conversation,
    Event,
    Flooded,
    ProtocolViolation,
    Refused,
    SendText,
    Silence,
    Text,
    TransportError,
    describe,
)
from wscheck.core.limits import MAX_REPORT_FILE_BYTES, read_regular_file
from wscheck.core.render import first_difference, render_conversation, side_by_side
from wscheck.core.spec import Spec
from wscheck.errors import SettingError
from wscheck.generation._compat import known_utf8, without_local_constants
from wscheck.generation.strategies import api_payloads, auth_conversations, echo_conversations
from wscheck.model.api import belongs, read
from wscheck.model.echo import expected
from wscheck.run.conversation import Observation

__all__ = [
    "KINDS",
    "POOL_SIZE",
    "Example",
    "Workload",
    "conversation_from_json",
    "conversation_to_json",
    "difference",
    "kind_of",
    "read_conversations",
    "render_example",
    "render_verdict",
    "verdict_status",
    "write_conversations",
]

#: Conversation kinds, in the order they are reported: Locust's request names.
KINDS = ("echo", "bye", "credentials", "q")

#: Conversations drawn per generator when a worker builds its pool.
POOL_SIZE = 300
#: An AsyncAPI document's operations draw this fraction of it each: payloads drawn from JSON
#: Schemas (hypothesis-jsonschema) cost about 50 ms apiece, and 50 distinct requests an
#: operation already vary the load.
API_SHARE = 6


def kind_of(spec: Spec, conversation: Conversation) -> str:
    """``echo`` / ``bye`` on the echo endpoint (``bye`` when the bye word is sent), and
    ``credentials`` / ``q`` on the credentials endpoint (``q`` when ``q`` is in the query).
    For an AsyncAPI document's API: the id of the request/reply operation its first request
    is a message of."""
    if spec.api is not None:
        return _operation_of(spec, conversation).id
    echo, auth = spec.echo, spec.auth
    if echo is not None and conversation.path == echo.url_path():
        said_bye = bool(echo.bye) and SendText(echo.bye or "") in conversation.actions
        return "bye" if said_bye else "echo"
    if auth is not None and any(name == auth.q for name, _ in conversation.query):
        return "q"
    return "credentials"


def _name(event: Event | None) -> str:
    match event:
        case None:
            return "nothing"
        case Accepted():
            return "accept"
        case Text():
            return "text"
        case Binary():
            return "binary"
        case Closed(code):
            return f"close {code}"
        case Refused():
            return "refusal"
        case Silence():
            return "silence"
        case TransportError():
            return "transport error"
        case Flooded():
            return "flood"
        case AppCrashed() | AppExited() | AppLogged() | ProtocolViolation():
            return "app failure"


def difference(observation: Observation) -> tuple[int, str]:
    """Where the transcripts first differ and a short, stable name for how.

    The name is what groups mismatches (one example kept per name and kind), so it says
    *how* the transcript differs, never *what* it held: ``wrong text`` (a text this
    conversation should never get, as from cross-talk), ``text out of order``, ``silence
    instead of text``, ``close 1001 instead of close 1000``, ``missing text``, ...
    """
    expected, observed = observation.expected, observation.observed
    index = first_difference(expected, observed)
    if index is None:
        raise ValueError("the transcripts are equal")
    want = expected[index] if index < len(expected) else None
    got = observed[index] if index < len(observed) else None
    if isinstance(want, Text) and isinstance(got, Text):
        return index, "text out of order" if got in expected else "wrong text"
    if want is None:
        return index, f"unexpected {_name(got)}"
    if got is None:
        return index, f"missing {_name(want)}"
    return index, f"{_name(got)} instead of {_name(want)}"


def _operation_of(spec: Spec, conversation: Conversation) -> ApiOperation:
    """The request/reply operation ``conversation`` exercises; ``ValueError`` for none."""
    assert spec.api is not None
    first = next((a.text for a in conversation.actions if isinstance(a, SendText)), None)
    for op in spec.api.requests():
        if spec.api.endpoints[op.endpoint].path != conversation.path:
            continue
        if first is not None and any(belongs(m, read(first)) for m in op.messages):
            return op
    raise ValueError(f"no request/reply operation at {conversation.path} takes its first "
                     "message")


def _api_conversations(spec: Spec, op: ApiOperation) -> SearchStrategy[Conversation]:
    """Conversations of 1 to 3 requests of ``op``, drawn from its request messages' schemas."""
    from hypothesis import strategies as st

    assert spec.api is not None
    endpoint = spec.api.endpoints[op.endpoint]
    requests = st.lists(st.one_of(*(api_payloads(m) for m in op.messages)), min_size=1,
                        max_size=3)
    return requests.map(lambda texts: Conversation(
        endpoint.path, tuple(SendText(t) for t in texts), endpoint.query, endpoint.cookies))


# --- conversations as JSON (for replay, and to cross from a worker to the master) ---------


def read_conversations(path: Path) -> list[Conversation]:
    """Conversations from a JSON file (a list of them, or a single one: a replay), in the
    report's own format (:mod:`wscheck.core.codec`), read within the kit's bounds on input files;
    ``ValueError`` says what is wrong with anything else."""
    text = read_regular_file(path, "conversations file", MAX_REPORT_FILE_BYTES, SettingError)
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise ValueError("the list of conversations is empty")
        return [conversation_from_json(item) for item in items]
    except (KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(f"not a conversation in wscheck's JSON form ({exc!r})") from None


def write_conversations(path: Path, conversations: Sequence[Conversation]) -> None:
    """Write conversations for :func:`read_conversations`."""
    path.write_text(json.dumps([conversation_to_json(c) for c in conversations],
                               ensure_ascii=False), encoding="utf-8")


# --- the pool of conversations each worker draws from ---------------------------------------


def _collect(strategy: SearchStrategy[Conversation], count: int, seed: int | None,
             pause: Callable[[], object] | None) -> list[Conversation]:
    """``count`` conversations drawn by Hypothesis from ``strategy`` (its own generation,
    without shrinking or an example database: this is sampling, not a property).

    ``pause`` is called after each one: under gevent it yields, so that a Locust worker
    keeps sending its heartbeats to the master while it draws (a few seconds)."""
    drawn: list[Conversation] = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(conversation: Conversation) -> None:
        drawn.append(conversation)
        if pause is not None:
            pause()

    if seed is not None:
        collect = hypothesis_seed(seed)(collect)
    collect()
    return drawn


@dataclass(frozen=True)
class Workload:
    """Conversations sorted by kind; each draw picks a kind at random, then one of its
    conversations, so every kind gets about the same share of the load."""

    pools: dict[str, list[Conversation]]

    @classmethod
    def generate(cls, spec: Spec, *, size: int = POOL_SIZE, long_messages: bool = False,
                 seed: int | None = None,
                 pause: Callable[[], object] | None = None) -> Workload:
        """Draw ``size`` conversations from each of the kit's generators the spec has an
        endpoint for. ``long_messages`` keeps the 64 KiB messages of the echo generator
        (off by default: under load they measure bandwidth, not conformance). ``pause``: see
        :func:`_collect`.

        Drawn without the constants Hypothesis reads from local modules (the kit's own source
        when it is installed editable): a seed draws the same workload whatever the source
        and however the kit is installed, so the mix of conversations a load run is made of
        (how many end at once, how many are refused) cannot change with an edit of the kit."""
        drawn: list[Conversation] = []
        known_utf8()  # the AsyncAPI payloads' strings: no scan of every code point
        with without_local_constants():
            for op in spec.api.requests() if spec.api is not None else ():
                drawn += _collect(_api_conversations(spec, op), max(1, size // API_SHARE),
                                  seed, pause)
            if spec.echo is not None:
                drawn += _collect(echo_conversations(spec, long=long_messages), size, seed,
                                  pause)
            if spec.auth is not None:
                drawn += _collect(auth_conversations(spec), size, seed, pause)
        return cls.of(spec, drawn)

    @classmethod
    def of(cls, spec: Spec, conversations: Sequence[Conversation]) -> Workload:
        """A workload of exactly these conversations (``--replay`` runs one)."""
        pools: dict[str, list[Conversation]] = {}
        for conversation in conversations:
            if spec.api is None:  # UnspecifiedBehaviour for one the model cannot judge
                expected(spec, conversation)
        for conversation in conversations:
            pools.setdefault(kind_of(spec, conversation), []).append(conversation)
        if not pools:
            raise ValueError("the spec has no endpoint to talk to")
        return cls({k: pools[k] for k in sorted(pools, key=_kind_order)})

    def conversations(self) -> list[Conversation]:
        """Every conversation of the workload, kind after kind."""
        return [c for pool in self.pools.values() for c in pool]

    def add(self, other: Workload) -> None:
        """Add ``other``'s conversations to these pools (a pool that grows while it is used:
        under gevent nothing else runs during the append)."""
        for kind, pool in other.pools.items():
            self.pools.setdefault(kind, []).extend(pool)

    def draw(self, rng: random.Random) -> tuple[str, Conversation]:
        kind = rng.choice(list(self.pools))
        return kind, rng.choice(self.pools[kind])


def _kind_order(kind: str) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


# --- verdicts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """The first mismatch of one kind of difference, as it crosses from worker to master."""

    kind: str
    difference: str
    index: int
    conversation: dict[str, Any]
    table: str

    @classmethod
    def of(cls, kind: str, observation: Observation) -> Example:
        index, name = difference(observation)
        return cls(kind, name, index, conversation_to_json(observation.conversation),
                   side_by_side(observation.expected, observation.observed))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "difference": self.difference, "index": self.index,
                "conversation": self.conversation, "table": self.table}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Example:
        return cls(str(data["kind"]), str(data["difference"]), int(data["index"]),
                   dict(data["conversation"]), str(data["table"]))


def failure_message(kind: str, observation: Observation) -> str:
    """Locust's failure message for a mismatch: the first difference, named stably so that
    Locust's failure table groups alike mismatches into one row."""
    index, name = difference(observation)
    got = observation.observed[index] if index < len(observation.observed) else None
    detail = f" ({describe(got)})" if isinstance(got, (Closed, TransportError, Refused)) else ""
    return f"{name}{detail}"


def render_example(example: Example, replay: str | None = None) -> str:
    """One example as the suite prints a failure: the conversation, then the transcripts
    side by side with the first difference marked, then how to replay it."""
    conversation = conversation_from_json(example.conversation)
    lines = [f"[{example.kind}] {example.difference} (first difference at event "
             f"{example.index})", "", "conversation:", render_conversation(conversation), "",
             example.table]
    if replay:
        lines += ["", f"replay: {replay}"]
    return "\n".join(lines)


def render_verdict(summary: Mapping[str, Any]) -> str:
    """wscheck's verdict under Locust's statistics: how many conversations ran, how many
    transcripts differed from the model (per kind), and the first example of each kind of
    difference."""
    kinds: Mapping[str, Mapping[str, int]] = summary["kinds"]
    lines = ["", "wscheck verdict", "=" * 15]
    for kind in sorted(kinds, key=_kind_order):
        counts = kinds[kind]
        lines.append(f"{kind:<12} {counts['conversations']:>9} conversations "
                     f"{counts['mismatches']:>9} differed from the model")
    lines.append(f"{'total':<12} {summary['conversations']:>9} conversations "
                 f"{summary['mismatches']:>9} differed from the model")
    if summary["kit_errors"]:
        lines.append(f"errors of wscheck itself (see Locust's exceptions): "
                     f"{summary['kit_errors']}")
    for data in summary["examples"]:
        lines += ["", render_example(Example.from_json(data), data.get("replay"))]
    if not summary["conversations"]:
        lines.append("no conversation finished: nothing was verified")
    elif not summary["mismatches"] and not summary["kit_errors"]:
        lines.append("every transcript matched the model")
    return "\n".join(lines)


def verdict_status(summary: Mapping[str, Any]) -> int:
    """0 when conversations ran and every transcript matched, 1 otherwise."""
    ok = summary["conversations"] > 0 and not summary["mismatches"] and not summary["kit_errors"]
    return 0 if ok else 1
