"""The time probes (protocol ``/ws`` 3): ``echo.idle`` watches an idle connection for
seconds, ``bye.after-pause`` says the bye word after a pause.

Each broken app fails exactly its probe, in-process and over the network (the kill matrix
runs the whole suite on them), and the reference app passes both, both ways. In-process an
idle app is known at once, so the reference app's watch costs nothing, while an app with a
timer of its own is watched in full: its tick is seen.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import tests.broken.bye_only_early
import tests.broken.ticks_every_second
from reference_app import app as reference
from tests.verdicts import asgi_verdicts, url_verdicts
from wscheck.core.spec import Spec
from wscheck.drivers.asgi import AsgiDriver
from wscheck.run.registry import SUITE, Context

PROBES = ("echo.idle", "bye.after-pause")


@pytest.mark.slow  # real seconds in-process and over uvicorn; the kill matrix has both apps
@pytest.mark.parametrize(("module", "probe"), [
    (tests.broken.ticks_every_second, "echo.idle"),
    (tests.broken.bye_only_early, "bye.after-pause"),
], ids=["ticks_every_second", "bye_only_early"])
def test_each_broken_app_fails_its_probe_both_ways(module: Any, probe: str) -> None:
    expected = {p: "fail" if p == probe else "pass" for p in PROBES}
    assert asgi_verdicts(module.app, only=PROBES) == expected
    assert url_verdicts(module.app, only=PROBES) == expected


def test_the_reference_app_passes_both_probes_both_ways() -> None:
    assert url_verdicts(reference, only=PROBES) == dict.fromkeys(PROBES, "pass")
    assert asgi_verdicts(reference, only=PROBES) == dict.fromkeys(PROBES, "pass")


def _run_probe(app: object, check_id: str, idle_watch: float) -> tuple[bool, float]:
    async def run() -> tuple[bool, float]:
        driver = AsgiDriver(app, timeout=2.0)  # type: ignore[arg-type]
        try:
            start = time.monotonic()
            verdict = await SUITE[check_id].run(
                Context(Spec(), driver, 10, idle_watch=idle_watch))
            return verdict.passed, time.monotonic() - start
        finally:
            await driver.aclose()

    return asyncio.run(run())


def test_in_process_an_idle_app_is_known_at_once_and_a_timer_is_watched_in_full() -> None:
    """A 30 s watch of the reference app ends at once (nothing can ever come: the app waits
    in receive() and the loop has no timer of its own); the ticking app is watched until its
    tick comes, about a second."""
    passed, seconds = _run_probe(reference, "echo.idle", 30.0)
    assert passed and seconds < 30.0 / 5, seconds
    passed, seconds = _run_probe(tests.broken.ticks_every_second.app, "echo.idle", 30.0)
    assert not passed and seconds < 30.0 / 5, seconds


def test_in_process_a_pause_is_real_time() -> None:
    """An app may look at its clock: the pause is never cut short, even for an idle app."""
    passed, seconds = _run_probe(reference, "bye.after-pause", 1.5)
    assert passed and seconds >= 1.5
