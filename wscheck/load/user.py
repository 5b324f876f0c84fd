"""The Locust side: :class:`WscheckUser`, its command-line options, and the verdict.

A locustfile one line long runs it with plain ``locust``::

    from wscheck.load.user import WscheckUser  # noqa: F401

Each conversation is one Locust request event (named by its kind, failed when its transcript
differs from the model); the first example of each kind of difference goes to the master,
which prints it. Importing this module imports Locust, which monkey-patches the standard
library for gevent, so ``wscheck load`` runs Locust in a process of its own (docs/load.md).
"""

from __future__ import annotations

import dataclasses
import json
import random
import shlex
import tempfile
import time
from argparse import ArgumentParser
from functools import cache
from pathlib import Path
from typing import Any

import gevent
import gevent.lock
from locust import User, constant, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from wscheck.checks.asyncapi import problem_kind, rejudge
from wscheck.config.known import load_spec_and_known
from wscheck.core.defaults import DEFAULT_QUIET_WINDOW, DEFAULT_TIMEOUT
from wscheck.core.events import Conversation
from wscheck.core.spec import Spec
from wscheck.errors import CheckFailure
from wscheck.load.wire import GeventDriver, run_blocking
from wscheck.load.workload import (
    POOL_SIZE,
    Example,
    Workload,
    failure_message,
    read_conversations,
    render_verdict,
)
from wscheck.run.conversation import Observation, run_conversation
from wscheck.run.registry import Context

__all__ = ["TranscriptMismatch", "WscheckUser", "summary"]

_EXAMPLE_MESSAGE = "wscheck_example"


class TranscriptMismatch(CheckFailure):
    """A transcript differed from the model: the failure Locust records, a verdict about the
    server like a failing check's."""


def _options(parser: ArgumentParser) -> None:
    group = parser  # Locust's web-UI keywords exist on the parser only, not on groups
    group.add_argument("--wscheck-spec", default="", metavar="FILE",
                       help="protocol description: TOML, or an AsyncAPI 3.0 document "
                            "(default: the reference protocol)")
    group.add_argument("--wscheck-timeout", type=float, default=DEFAULT_TIMEOUT,
                       metavar="SECONDS",
                       help=f"deadline of any single wait (default: {DEFAULT_TIMEOUT:g})")
    group.add_argument("--wscheck-quiet-window", type=float, default=DEFAULT_QUIET_WINDOW,
                       metavar="SECONDS",
                       help="how long to listen for anything unexpected after a conversation "
                            f"(default: {DEFAULT_QUIET_WINDOW:g})")
    group.add_argument("--wscheck-ca-file", default="", metavar="FILE.pem",
                       help="CA bundle to trust for wss:// (default: the system's CAs)")
    group.add_argument("--wscheck-long-messages", action="store_true", default=False,
                       help="keep the echo generator's 64 KiB messages")
    group.add_argument("--wscheck-seed", type=int, default=-1, metavar="N",
                       help="seed of the conversation generators (default: random)")
    group.add_argument("--wscheck-conversations", default="", metavar="FILE.json",
                       help="draw conversations from this JSON list (or run this one "
                            "conversation) instead of generating them in every process")
    group.add_argument("--wscheck-summary", default="", metavar="FILE.json",
                       include_in_web_ui=False,
                       help="write the conformance verdict as JSON when Locust quits")


def _option(environment: Environment, name: str, default: Any) -> Any:
    options = environment.parsed_options
    return getattr(options, name, default) if options is not None else default


@cache
def _spec(path: str) -> Spec:
    return load_spec_and_known(path)[0] if path else Spec()


_drawing = gevent.lock.Semaphore()

#: Conversations per generator drawn before the first user starts, and then in each batch of
#: the background greenlet that grows the pool to ``POOL_SIZE`` while users run.
FIRST_BATCH = 10


def _workload(spec_path: str, long_messages: bool, seed: int, given: str) -> Workload:
    """One pool per worker process: read from ``--wscheck-conversations`` (``wscheck load``
    draws it once for all its processes), else drawn here from the kit's generators.

    Drawing a full pool takes seconds of CPU, which would eat a short run (and, without a
    pause, the worker's heartbeats to the master). So the first user draws a small batch and
    a background greenlet draws the rest in batches, yielding after each conversation. Only
    one greenlet draws at a time: Hypothesis's generation is not re-entrant.
    """
    with _drawing:
        return _draw(spec_path, long_messages, seed, given)


@cache
def _draw(spec_path: str, long_messages: bool, seed: int, given: str) -> Workload:
    spec = _spec(spec_path)
    if given:
        return Workload.of(spec, read_conversations(Path(given)))

    def batch(number: int) -> Workload:
        return Workload.generate(spec, size=FIRST_BATCH, long_messages=long_messages,
                                 seed=None if seed < 0 else seed + number, pause=gevent.sleep)

    workload = batch(0)

    def grow() -> None:
        for number in range(1, POOL_SIZE // FIRST_BATCH):
            with _drawing:
                workload.add(batch(number))

    gevent.spawn(grow)
    return workload


class WscheckUser(User):
    """A user that runs conversations from the kit's generators and checks each transcript.

    Subclass it to change ``wait_time`` (none by default: conversations back to back) or
    ``weight``; ``--host`` is the ``ws://`` URL of the server under test.
    """

    wait_time = constant(0)

    def on_start(self) -> None:
        env = self.environment
        if not self.host:
            raise ValueError("give the server's ws:// URL with --host")
        self._spec = _spec(_option(env, "wscheck_spec", ""))
        self._workload = _workload(_option(env, "wscheck_spec", ""),
                                   bool(_option(env, "wscheck_long_messages", False)),
                                   int(_option(env, "wscheck_seed", -1)),
                                   _option(env, "wscheck_conversations", ""))
        self._driver = GeventDriver(self.host,
                                    timeout=float(_option(env, "wscheck_timeout",
                                                          DEFAULT_TIMEOUT)),
                                    quiet_window=float(_option(env, "wscheck_quiet_window",
                                                               DEFAULT_QUIET_WINDOW)),
                                    ca_file=_option(env, "wscheck_ca_file", "") or None)
        self._rng = random.Random()

    @task
    def conversation(self) -> None:
        """One whole conversation, reported to Locust as one request event."""
        kind, conversation = self._workload.draw(self._rng)
        started = time.perf_counter()
        observation, name = self._run(kind, conversation)
        elapsed = (time.perf_counter() - started) * 1000
        exception = None
        if name is not None:
            exception = TranscriptMismatch(name)
            _first_example(self.environment, kind, observation,
                           name if self._spec.api is not None else None)
        self.environment.events.request.fire(
            request_type="WS", name=kind, response_time=elapsed,
            response_length=len(observation.observed), exception=exception, context={})

    def _run(self, kind: str, conversation: Conversation) -> tuple[Observation, str | None]:
        """The conversation's observation and, when it does not conform, Locust's failure
        message for it: by the chat model, or for an AsyncAPI document by the rules of the
        operation's checks (``asyncapi.<op>.prop``: the reply there, on its channel,
        correlated and valid, nothing else), named by the kind of problem."""
        if self._spec.api is not None:
            context = Context(self._spec, self._driver)
            observation, problem = run_blocking(
                rejudge(context, f"asyncapi.{kind}.prop", conversation))
            return observation, None if problem is None else problem_kind(problem)
        observation = run_blocking(run_conversation(self._driver, self._spec, conversation))
        return observation, None if observation.ok else failure_message(kind, observation)


# --- examples: the first of each kind of difference, from every process to the master ------

_sent: set[tuple[str, str]] = set()
_examples: dict[tuple[str, str], Example] = {}
_environment: list[Environment] = []


def _first_example(environment: Environment, kind: str, observation: Any,
                   problem: str | None = None) -> None:
    """Send the first example of each kind of difference to the master; ``problem`` names
    the kind for an AsyncAPI document's conversation (its transcripts are judged, not
    compared with a predicted one)."""
    example = Example.of(kind, observation)
    if problem is not None:
        example = dataclasses.replace(example, difference=problem)
    key = (kind, example.difference)
    if key in _sent or environment.runner is None:
        return
    _sent.add(key)
    environment.runner.send_message(_EXAMPLE_MESSAGE, example.to_json())


def _on_example(environment: Environment, msg: Any, **_: Any) -> None:
    example = Example.from_json(msg.data)
    _examples.setdefault((example.kind, example.difference), example)


def _on_init(environment: Environment, **_: Any) -> None:
    # The event loop's clock is read when the loop runs, and it has not run since it was
    # made, before Locust's start-up: ``--run-time`` (a gevent timer set right after this
    # event) would count from then, and a start-up slower than the run time (a busy
    # machine) would end the run as soon as it starts.
    gevent.get_hub().loop.update_now()
    _environment[:] = [environment]
    if environment.runner is not None and not isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(_EXAMPLE_MESSAGE, _on_example)


def summary(environment: Environment) -> dict[str, Any]:
    """The conformance verdict from Locust's (merged) statistics and the examples received."""
    kinds: dict[str, dict[str, int]] = {}
    for (name, method), entry in sorted(environment.stats.entries.items()):
        if method != "WS":
            continue
        kinds[name] = {"conversations": entry.num_requests, "mismatches": entry.num_failures}
    runner = environment.runner
    kit_errors = sum(int(e.get("count", 1)) for e in runner.exceptions.values()) if runner else 0
    examples_dir: str | None = None
    examples = []
    for i, example in enumerate(sorted(_examples.values(),
                                       key=lambda e: (e.kind, e.difference)), 1):
        if examples_dir is None:
            examples_dir = tempfile.mkdtemp(prefix="wscheck-load-")
        path = Path(examples_dir) / f"example-{i}.json"
        path.write_text(json.dumps(example.conversation, ensure_ascii=False), encoding="utf-8")
        examples.append({**example.to_json(), "file": str(path),
                         "replay": _replay_command(environment, path)})
    return {
        "conversations": sum(k["conversations"] for k in kinds.values()),
        "mismatches": sum(k["mismatches"] for k in kinds.values()),
        "kit_errors": kit_errors,
        "kinds": kinds,
        "examples": examples,
    }


def _replay_command(environment: Environment, path: Path) -> str:
    options = environment.parsed_options
    users = getattr(options, "num_users", None) or 1
    words = ["wscheck", "load", "--url", str(environment.host or ""), "--users", str(users),
             "--run-time", "10s", "--replay", str(path)]
    spec = getattr(options, "wscheck_spec", "")
    if spec:
        words += ["--spec", spec]
    return shlex.join(words)


def _on_quit(exit_code: int, **_: Any) -> None:
    if not _environment:
        return
    environment = _environment[0]
    if isinstance(environment.runner, WorkerRunner):
        return
    result = summary(environment)
    print(render_verdict(result), flush=True)
    path = _option(environment, "wscheck_summary", "")
    if path:
        Path(path).write_text(json.dumps(result, ensure_ascii=False, indent=1),
                              encoding="utf-8")


# Registered by calls, not decorators: Locust's ``add_listener`` is untyped.
events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.quit.add_listener(_on_quit)  # type: ignore[no-untyped-call]
