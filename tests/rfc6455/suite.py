"""The rfc6455 suite's verdict per case against a URL, for tests that judge servers: run
as the plugin schedules a network run (every case at once, within the concurrency), each
verdict in the report's words (``pass``, ``fail``, ``warn``, ``informational``,
``not applicable``, ``inconclusive``)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from wscheck.core.spec import Spec
from wscheck.drivers.raw import RawDriver
from wscheck.drivers.url import UrlDriver
from wscheck.pytest.collector import check_word
from wscheck.run.registry import RFC6455, Context, Outcome, Verdict
from wscheck.run.schedule import Schedule


def word(chk_level: str, verdict: Verdict) -> str:
    """The verdict's word, as the plugin settles it without --wscheck-strict."""
    if verdict.not_applicable is not None:
        return Outcome.NOT_APPLICABLE.value
    chk = next(c for c in RFC6455.all() if c.level == chk_level)
    return check_word(chk, verdict, listed=False, strict=False).value


async def verdicts_async(url: str, *, timeout: float = 2.0, concurrency: int = 8,
                         only: Collection[str] | None = None) -> dict[str, tuple[str, Verdict]]:
    raw = RawDriver(url, timeout=timeout, max_size=16 * 1024 * 1024)
    driver = UrlDriver(url, timeout=timeout)
    ctx = Context(Spec(), driver, concurrency=concurrency, raw=raw)
    checks = [(c, ctx) for c in RFC6455.all() if only is None or c.id in only]
    schedule = Schedule(checks, concurrency)
    schedule.start()
    out: dict[str, tuple[str, Verdict]] = {}
    try:
        for chk, _ in checks:
            verdict = await schedule.verdict(chk.id)
            out[chk.id] = (word(chk.level, verdict), verdict)
    finally:
        await schedule.cancel()
        await driver.aclose()
    return out


def rfc6455_verdicts(url: str, **kwargs: object) -> dict[str, tuple[str, Verdict]]:
    """Every case's word and verdict against ``url`` (an echo endpoint), on a fresh loop."""
    return asyncio.run(verdicts_async(url, **kwargs))  # type: ignore[arg-type]
