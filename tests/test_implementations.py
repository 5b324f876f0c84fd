"""Correct implementations, written different ways, pass every check — in-process and over
the network. A kit that only passed the reference app could be judging its habits, not the
protocol.
"""

from __future__ import annotations

import importlib

import pytest

from tests.verdicts import Outcome, asgi_verdicts, url_verdicts
from wscheck.checks import all_checks

ALL_PASS: dict[str, Outcome] = {c.id: "pass" for c in all_checks()}

#: The tutorial's refusal (close before accept) conforms at MUST level; only the SHOULD-level
#: auth.missing-observable says the 1008 is not observable on the wire.
BEFORE_ACCEPT: dict[str, Outcome] = {**ALL_PASS, "auth.missing-observable": "fail"}

IN_PROCESS: dict[str, dict[str, Outcome]] = {
    "reference_app": ALL_PASS,
    "tests.implementations.starlette_app": ALL_PASS,
    "tests.implementations.raw_asgi": ALL_PASS,
    "tests.implementations.accept_then_close": ALL_PASS,
    "tests.implementations.close_before_accept": BEFORE_ACCEPT,
}


def _app(module: str) -> object:
    return importlib.import_module(module).app


@pytest.mark.parametrize("module", sorted(IN_PROCESS))
def test_in_process_verdicts(module: str) -> None:
    assert asgi_verdicts(_app(module)) == IN_PROCESS[module]


def test_slow_replies_pass_with_the_default_timeout() -> None:
    """50 ms before every reply: each wait is per message, so the 2 s timeout is plenty even
    for 50 pipelined messages (2.5 s in all); and an app that sleeps is never taken for idle.
    Few generated examples: every message costs 50 ms."""
    from tests.implementations.slow_replies import app

    assert asgi_verdicts(app, timeout=2.0, examples=5) == ALL_PASS


#: Over the network every conversation costs real round trips and quiet windows, and the
#: generated multi-connection properties are the slowest of all (seconds each): they run in
#: full against the reference app, and in-process only for the other implementations.
SLOW_OVER_THE_NETWORK = {"prop.stateful", "prop.concurrent"}


def test_reference_app_over_the_network() -> None:
    assert url_verdicts(_app("reference_app")) == ALL_PASS


@pytest.mark.parametrize("module", ["tests.implementations.starlette_app",
                                    "tests.implementations.raw_asgi"])
def test_implementations_over_the_network(module: str) -> None:
    only = set(ALL_PASS) - SLOW_OVER_THE_NETWORK
    assert url_verdicts(_app(module), only=only) == {i: ALL_PASS[i] for i in only}


def test_close_before_accept_over_the_network() -> None:
    """uvicorn turns the close before accept into HTTP 403: auth.missing passes it as the wire
    form, auth.missing-observable warns that the 1008 is lost."""
    outcomes = url_verdicts(_app("tests.implementations.close_before_accept"),
                            only={"auth.missing", "auth.q-invalid", "auth.missing-observable"})
    assert outcomes == {"auth.missing": "pass", "auth.q-invalid": "pass",
                        "auth.missing-observable": "fail"}
