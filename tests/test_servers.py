"""Correct implementations served by real ASGI servers — uvicorn, hypercorn, daphne and
granian, each started as a subprocess on a free loopback port — checked over the network the
way users do it: ``pytest --wscheck-url`` in a scratch directory (see
:func:`tests.servers.start_suite`), its verdicts read from the JUnit report and summary.

A server may change what a client can observe; the verdict and its explanation must then
still be right:

* a close before accept becomes an HTTP 403 under every server: ``auth.missing`` passes it as
  the wire form (with a note) and the SHOULD-level ``auth.missing-observable`` warns;
* daphne (through autobahn) refuses to send any close code but 1000 and 3000-4999: an app's
  ``websocket.close`` with 1008 or 1003 raises inside daphne, which closes with 1011 instead.
  Accept-then-close apps therefore fail ``auth.missing`` there (the client sees 1011, not
  1008); the apps that refuse before accept conform at MUST level under daphne, and binary
  messages get 1011 instead of 1003 (a SHOULD warning) whatever the app does;
* granian and daphne close the TCP connection right after their close frame without waiting
  for the client's, so a client that already sent more messages gets a reset after the close
  frame. The close frame was delivered and is readable: a client must still report it.

Lean on purpose: every server and app is one pytest run of ~8 s (quiet windows and round
trips), its own test (xdist spreads them), property checks draw 5 examples
(``--wscheck-examples 5``), the quiet window is 50 ms (loopback; it only bounds how long a
correct app's silence is waited for), the time probes watch and pause 0.3 s instead of 2 (no
server here does anything on a timer; the probes still run and must pass), and the two
multi-connection properties (``prop.concurrent``, ``prop.stateful``) and the long run
(``isolation.long-run``), seconds each, run in full for the reference app only — in-process
every implementation runs them (``tests/test_implementations.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import SuiteRun, finish_suite, serve_subprocess, start_suite
from wscheck.core.events import Accepted, Closed, Event
from wscheck.core.spec import Spec
from wscheck.drivers.url import UrlDriver
from wscheck.run.registry import SUITE

#: The server matrix: a minute or two of subprocess servers; CI runs it (see the README).
pytestmark = pytest.mark.slow

CHECK_IDS = [c.id for c in SUITE.all()]
SLOW = ("prop.concurrent", "prop.stateful", "isolation.long-run")
LEAN = ("--wscheck-examples=5", "--wscheck-quiet-window=0.05", "--wscheck-idle-watch=0.3")

SERVERS = ["uvicorn", "hypercorn", "daphne", "granian"]

REFERENCE = "reference_app:app"
#: Apps that refuse by accepting and then closing with 1008 (the reference app's choice).
ACCEPT_THEN_CLOSE = [REFERENCE, "tests.implementations.raw_asgi:app",
                     "tests.implementations.starlette_app:app"]
#: Apps that refuse with a close before accept (the tutorial's choice): FastAPI, and the raw
#: ASGI implementation with that one change (conforming at MUST level).
BEFORE_ACCEPT = ["tests.implementations.close_before_accept:app",
                 "tests.broken.refuses_before_accept:app"]

WIRE_FORM = "1008 is not observable on the wire"
RESET = "connection reset without a close frame"


@dataclass(frozen=True)
class Expected:
    """The verdict of every check (``pass``/``warn``/``fail``), and which generated-property
    checks may fail (their draws decide whether they meet a refused connection)."""

    verdicts: dict[str, str]
    may_fail: frozenset[str] = frozenset()


def expected(server: str, app: str) -> Expected:
    # The broadcast room's checks do not apply to the reference protocol: skipped.
    verdicts = {c.id: "skip" if c.not_applicable(Spec()) else "pass" for c in SUITE.all()}
    # Over the network a server's exceptions and log cannot be seen: robust.disconnect is
    # inconclusive (cannot be observed), which leaves the exit status alone.
    verdicts["robust.disconnect"] = "inconclusive"
    may: set[str] = set()
    if app in BEFORE_ACCEPT:
        verdicts["auth.missing-observable"] = "warn"
        if server == "daphne":
            verdicts["robust.binary"] = "warn"
    elif server == "daphne":
        verdicts.update({"auth.missing": "fail", "auth.q-invalid": "fail",
                         "auth.lookalike-names": "fail",
                         "auth.missing-observable": "warn", "robust.binary": "warn"})
        may = {"prop.auth", "prop.stateful"}
    return Expected(verdicts, frozenset(may))


def apps_for(server: str) -> list[str]:
    apps = [*ACCEPT_THEN_CLOSE, BEFORE_ACCEPT[0]]
    if server == "daphne":  # two MUST-conforming implementations under daphne too
        apps.append(BEFORE_ACCEPT[1])
    if server == "uvicorn":  # the other frameworks over the wire (in-process:
        apps += [f"tests.implementations.{name}:app"  # test_implementations.py)
                 for name in ("litestar_app", "falcon_app", "channels_app")]
    return apps


def run_side_by_side(server: str, apps: list[str]) -> dict[str, tuple[SuiteRun, str]]:
    """Serve every app with ``server`` and run the suite against each, all at once; each
    app's run and what its server printed."""
    with contextlib.ExitStack() as stack:
        started = []
        for app in apps:
            process = stack.enter_context(serve_subprocess(server, app))
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            args = list(LEAN)
            if app != REFERENCE:
                args += [f"--deselect=wscheck::{c}" for c in SLOW]
            started.append((app, process, workdir,
                            start_suite(f"ws://{process.address}", workdir, *args)))
        return {app: (finish_suite(suite, workdir), process.log())
                for app, process, workdir, suite in started}


#: One test per server and app, so that xdist spreads the matrix.
MATRIX = [pytest.param(server, app, id=f"{server}-{app.split(':')[0].rsplit('.', 1)[-1]}")
          for server in SERVERS for app in apps_for(server)]


@pytest.mark.parametrize(("server", "app"), MATRIX)
def test_implementations_under_server(server: str, app: str) -> None:
    run, log = run_side_by_side(server, [app])[app]
    problems: list[str] = []
    want = expected(server, app)
    ran = {c: want.verdicts[c] for c in run.verdicts}
    if app == REFERENCE:
        assert set(run.verdicts) == set(CHECK_IDS), app
    got = {c: v for c, v in run.verdicts.items()
           if not (c in want.may_fail and v == "fail")}
    diff = {c: (ran[c], v) for c, v in got.items() if ran[c] != v}
    if diff:
        detail = "\n".join(run.details.get(c, run.problems.get(c, "")) for c in diff)
        problems.append(f"{app} under {server}: (expected, got) {diff}\n{detail}")
    problems += explanation_problems(server, app, run)
    # Over the network robust.disconnect cannot see an exception inside the server: its
    # log can. (Under daphne every close with 1003 or 1008 raises inside daphne itself.)
    if server != "daphne" and "Traceback" in log:
        problems.append(f"{app} under {server} logged an exception:\n{log[-3000:]}")
    must_fail = any(v == "fail" for v in run.verdicts.values())
    assert run.returncode == (1 if must_fail else 0), run.output
    assert not problems, "\n\n".join(problems)


def explanation_problems(server: str, app: str, run: SuiteRun) -> list[str]:
    """What is wrong with the explanations given for verdicts the server shaped."""
    problems = []
    if app in BEFORE_ACCEPT:
        for check_id in ("auth.missing", "auth.q-invalid"):
            notes = run.notes.get(check_id, [])
            if not any(WIRE_FORM in n and "HTTP 403" in n for n in notes):
                problems.append(f"{app} under {server}: {check_id} passes the 403 without "
                                f"saying why: notes {notes}")
        warning = run.problems.get("auth.missing-observable", "")
        if WIRE_FORM not in warning:
            problems.append(f"{app} under {server}: auth.missing-observable: {warning!r}")
    elif server == "daphne":
        for check_id in ("auth.missing", "auth.q-invalid"):
            detail = run.details.get(check_id, "")
            if "not refused with 1008" not in detail or "close 1011" not in detail:
                problems.append(f"{app} under daphne: {check_id} does not show the 1011 that "
                                f"replaced 1008:\n{detail}")
    binary = run.problems.get("robust.binary")
    if server == "daphne" and binary is not None and "did not get a close with 1003" not in binary:
        problems.append(f"{app} under daphne: robust.binary: {binary!r}")
    return problems


# --- a close frame followed by a reset -----------------------------------------------------


async def _refused_while_writing(address: str, tries: int) -> list[list[Event]]:
    """Connect without credentials and send four messages at once, ``tries`` times: the
    server accepts, closes with its code and resets (the messages are unread), so some of the
    writes fail. What did the client observe after the handshake each time?"""
    driver = UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=0.05)
    seen: list[list[Event]] = []
    try:
        for i in range(tries):
            conn = await driver.connect("/item/ws", (), ())
            for text in ("one", "two", "three", "four"):
                await conn.send_text(text)
            if i % 2:
                await asyncio.sleep(0.2)  # the close frame and the reset are in
            seen.append([conn.handshake, await conn.receive()])
            await conn.close()
    finally:
        await driver.aclose()
    return seen


@pytest.mark.parametrize("server", ["granian", "daphne"])
def test_a_close_frame_before_a_reset_is_observed(server: str) -> None:
    """The server sends its close frame, then resets the connection because the client's
    messages are unread. The frame arrived before the reset and a plain socket reads it,
    even after a write failed with EPIPE: the kit must report the close, not "a reset
    without a close frame". Under daphne the code is 1011 (see the module docstring)."""
    code = 1011 if server == "daphne" else 1008
    with serve_subprocess(server, "tests.implementations.raw_asgi:app") as process:
        seen = asyncio.run(_refused_while_writing(process.address, tries=10))
    assert seen == [[Accepted(), Closed(code)]] * 10
