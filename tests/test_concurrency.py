"""The ``concurrency`` setting: a check's independent conversations run at once, and the
verdicts are those of running them one after another.

First the setting itself (parsed once, in the words the user typed), then what the shared
helpers of :mod:`wscheck.checks.judging` do with it (how many connections are open at once, the
order of the observations, when a check may trust conversations run at once), then the proof
over the network: a broken app served by uvicorn gets the same verdict from every check with
``--concurrency 1`` as with the default.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tests.broken.accepts_bad_q
import tests.broken.empty_token_absent
import tests.broken.swaps_when_together
from tests.servers import serve_subprocess, serve_uvicorn
from tests.suite_runs import verdict_tables
from wscheck.checks.judging import all_agree, observe_all
from wscheck.config.settings import Given, resolve
from wscheck.core.defaults import DEFAULT_CONCURRENCY
from wscheck.core.events import Conversation
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver
from wscheck.drivers.base import Connection
from wscheck.drivers.url import UrlDriver
from wscheck.errors import SettingError
from wscheck.run.registry import SUITE, Context

# --- the setting ------------------------------------------------------------------------------


def test_concurrency_defaults_to_several_and_takes_a_whole_number(tmp_path: Path) -> None:
    assert resolve({}, rootdir=tmp_path).concurrency == DEFAULT_CONCURRENCY > 1
    given = {"concurrency": Given("1", "--concurrency")}
    assert resolve(given, rootdir=tmp_path).concurrency == 1


@pytest.mark.parametrize("raw", ["0", "-3", "many", "1.5"])
def test_a_bad_concurrency_is_one_line_naming_the_flag(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SettingError) as info:
        resolve({"concurrency": Given(raw, "--wscheck-concurrency")}, rootdir=tmp_path)
    assert str(info.value).startswith("--wscheck-concurrency must be")


def test_wscheck_run_refuses_a_bad_concurrency_with_exit_4(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "wscheck", "run", "--concurrency", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--concurrency must be at least 1" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


# --- observe: how many at once, in which order ------------------------------------------------


class CountingDriver(AsgiDriver):
    """The in-process driver, counting the connections open at the same time."""

    def __init__(self, app: Any) -> None:
        super().__init__(app, timeout=2.0)
        self.open = 0
        self.most = 0
        self.opened: list[str] = []

    async def connect(self, path: str, query: Any = (), cookies: Any = (), *,
                      origin: bool = False) -> Connection:
        conn = await super().connect(path, query, cookies, origin=origin)
        self.open += 1
        self.most = max(self.most, self.open)
        self.opened.append(path)
        finish = conn.finish

        async def finished() -> Any:
            try:
                return await finish()
            finally:
                self.open -= 1

        conn.finish = finished  # type: ignore[method-assign]
        return conn


def conversations(n: int) -> list[Conversation]:
    return [Conversation.of("/ws", f"message {i}", f"again {i}") for i in range(n)]


async def most_at_once(concurrency: int, n: int) -> tuple[int, list[str]]:
    from reference_app import app

    driver = CountingDriver(app)
    try:
        observed = await observe_all(Context(Spec(), driver, 10, concurrency), conversations(n))
    finally:
        await driver.aclose()
    assert [o.conversation for o in observed] == conversations(n)  # in the order given
    assert all(o.ok for o in observed), observed
    return driver.most, [o.observed[1].text for o in observed]  # type: ignore[attr-defined]


def test_concurrency_1_opens_one_connection_at_a_time() -> None:
    most, _ = asyncio.run(most_at_once(1, 6))
    assert most == 1


def test_the_default_overlaps_conversations_up_to_the_bound() -> None:
    most, first_replies = asyncio.run(most_at_once(3, 7))
    assert 1 < most <= 3
    assert [r.rsplit(":", 1)[-1].strip() for r in first_replies] == [
        f"message {i}" for i in range(7)]  # each connection got its own reply


def test_agreement_at_once_needs_every_conversation_to_agree() -> None:
    from reference_app import app

    async def run(address: str, concurrency: int, agrees: Any) -> Any:
        driver = UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=0.2)
        try:
            return await all_agree(Context(Spec(), driver, 10, concurrency), conversations(4),
                                   agrees)
        finally:
            await driver.aclose()

    with serve_uvicorn(app) as address:
        together = asyncio.run(run(address, 4, lambda obs: obs.ok))
        assert together is not None
        assert [o.conversation for o in together] == conversations(4)  # in the order given
        assert all(o.ok for o in together)
        one_disagrees = asyncio.run(run(address, 4, lambda obs: obs.conversation.actions[0]
                                        != conversations(4)[1].actions[0]))
        assert one_disagrees is None
        assert asyncio.run(run(address, 1, lambda obs: True)) is None  # one at a time: never


def test_at_once_a_missing_reply_is_waited_for_at_a_bound_and_never_agrees() -> None:
    """Conversations run at once wait for a reply at most the bound (only their agreement is
    taken): against an app that answers each message one message late, every wait of the run
    at once ends before the timeout, none agrees, and the check's verdict (from conversations
    run one after another, at the full timeout) is still the failure."""
    from tests.broken.answers_one_late import app
    from wscheck.checks.judging import at_once_bound
    from wscheck.core.events import Silence

    async def run(address: str) -> tuple[Any, list[float], Any, float | None]:
        driver = UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=0.2)
        waits: list[float] = []
        connect = driver.connect

        async def counted(*args: Any, **kwargs: Any) -> Any:
            conn = await connect(*args, **kwargs)
            receive = conn.receive

            async def receive_counted(timeout: float | None = None) -> Any:
                event = await receive(timeout)
                if isinstance(event, Silence):
                    waits.append(event.seconds)
                return event

            conn.receive = receive_counted  # type: ignore[method-assign]
            return conn

        driver.connect = counted  # type: ignore[method-assign]
        ctx = Context(Spec(), driver, 10, 4)
        try:
            bound = at_once_bound(ctx)
            together = await all_agree(ctx, conversations(3), lambda obs: True)
            at_once = list(waits)
            verdict = await SUITE["echo.exact"].run(ctx)
            return together, at_once, verdict, bound
        finally:
            await driver.aclose()

    with serve_uvicorn(app) as address:
        together, at_once, verdict, bound = asyncio.run(run(address))
    assert bound is not None and bound < 2.0
    assert together is None  # even an "agrees" that takes anything: a wait was cut short
    assert len(at_once) == 3 and all(w == bound for w in at_once), at_once
    assert not verdict.passed and not verdict.is_inconclusive
    assert verdict.observation is not None
    silences = [e for e in verdict.observation.observed if isinstance(e, Silence)]
    assert [s.seconds for s in silences] == [2.0], verdict.observation.observed


def test_in_process_runs_conversations_one_after_another() -> None:
    """In-process nothing is gained, and the run stays exactly what it was."""
    from reference_app import app

    async def run() -> tuple[Any, int]:
        driver = CountingDriver(app)
        try:
            agreed = await all_agree(Context(Spec(), driver, 10, 8), conversations(4),
                                     lambda obs: True)
            return agreed, len(driver.opened)
        finally:
            await driver.aclose()

    assert asyncio.run(run()) == (None, 0)


def test_an_app_that_lets_clients_interfere_is_judged_on_clients_alone() -> None:
    """A broadcast app passes echo.exact over the network (its defect is the isolation
    checks'): the conversations run at once see each other's broadcasts, so the check runs
    them alone."""
    from tests.broken.broadcasts import app

    async def verdict(address: str, concurrency: int) -> Any:
        driver = UrlDriver(f"ws://{address}", timeout=2.0, quiet_window=0.2)
        try:
            return await SUITE["echo.exact"].run(Context(Spec(), driver, 10, concurrency))
        finally:
            await driver.aclose()

    with serve_uvicorn(app) as address:
        assert asyncio.run(verdict(address, 8)).passed
        assert asyncio.run(verdict(address, 1)).passed


# --- the same verdicts over the network -------------------------------------------------------


#: Per app: the checks it fails, then passing checks of the same lines that run several
#: independent conversations (the ones the setting runs at once). The rest of the suite adds
#: seconds, not another path. ``-k`` matches substrings: no id here is part of another
#: selected one's (the test asserts the table is of exactly these).
CONCURRENCY_CHECKS = {
    "empty_token_absent": ("auth.empty-credential", "prop.auth", "auth.token",
                           "auth.cookie-precedence", "echo.exact"),
    "accepts_bad_q": ("auth.q-invalid", "prop.auth", "auth.token", "auth.cookie-precedence",
                      "echo.exact"),
    "swaps_when_together": ("isolation.concurrent", "prop.concurrent", "echo.exact",
                            "echo.whitespace", "echo.newlines", "echo.stays-open",
                            "prop.conversation"),
}


@pytest.mark.slow
@pytest.mark.parametrize("module", [tests.broken.empty_token_absent, tests.broken.accepts_bad_q,
                                    tests.broken.swaps_when_together],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_concurrency_1_and_the_default_agree_on_a_broken_app(module: Any,
                                                             tmp_path: Path) -> None:
    """The checks of CONCURRENCY_CHECKS, with 8 property examples (the defects show in the
    first ones); each run has a uvicorn process of its own, so the two go at once."""
    chosen = CONCURRENCY_CHECKS[module.__name__.rsplit(".", 1)[-1]]
    selection = ["--examples", "8", "--", "-k", " or ".join(chosen)]
    target = f"{module.__name__}:app"
    with serve_subprocess("uvicorn", target) as one, serve_subprocess("uvicorn", target) as two:
        sequential, default = verdict_tables(
            [["--url", f"ws://{one.address}", "--concurrency", "1", *selection],
             ["--url", f"ws://{two.address}", *selection]], tmp_path)
    assert set(default) == set(chosen), sorted(default)
    assert default == sequential
    assert default[chosen[0]] == "fail", default  # the defect is caught either way
