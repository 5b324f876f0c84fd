"""A target that answers the probe and then goes mute stops the run once, after a few
timeouts, instead of costing every remaining check its own.

Mute here is the network driver's definition (:class:`wscheck.drivers._neterrors.MuteWatch`):
:data:`~wscheck.drivers.url.MUTE_AFTER` waits in a row for something the target owes, with
not a byte from it in between. The runs are bounded by the number of timeouts they wait out,
counted here around the driver, not by wall time (which a loaded machine stretches).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wsproto
import wsproto.events as we

import wscheck.drivers.url as url_module
from tests.raw_servers import READ_BOUND, echo, raw_server, read_until_gone
from wscheck.cli.main import main
from wscheck.core.defaults import DEFAULT_CONCURRENCY
from wscheck.core.events import Event, Silence, TransportError
from wscheck.drivers.url import MUTE_AFTER, UrlConnection, UrlDriver
from wscheck.run.registry import SUITE

TIMEOUT = 0.5

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def no_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Takes the TCP connection and the request, never answers."""
    await read_until_gone(reader)


async def mute_after_handshake(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
    """Completes the handshake, then never sends a byte (not even a close frame)."""
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while True:
        data = await asyncio.wait_for(reader.read(65536), READ_BOUND)
        if not data:
            return
        ws.receive_data(data)
        if any(isinstance(e, we.Request) for e in ws.events()):
            break
    writer.write(ws.send(we.AcceptConnection()))
    await writer.drain()
    await read_until_gone(reader)


def answers_the_probe_then(mute: Handler) -> Handler:
    """A working echo for the first connection (the run's probe), ``mute`` for every later
    one."""
    connections = [0]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        await (echo if connections[0] == 1 else mute)(reader, writer)

    return handler


@dataclass
class Timeouts:
    """The waits the driver ran out in full: handshakes, replies, close replies."""

    handshakes: int = 0
    replies: int = 0
    closes: int = 0

    @property
    def total(self) -> int:
        return self.handshakes + self.replies + self.closes


@pytest.fixture
def timeouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Timeouts]:
    """Counts every wait of the network driver that ran out, by wrapping its parts."""
    counted = Timeouts()
    failure = url_module.handshake_failure
    receive = UrlConnection._receive
    close = UrlConnection.close

    def handshake_failure(*args: Any) -> Event:
        event = failure(*args)
        if isinstance(event, Silence):
            counted.handshakes += 1
        return event

    async def counting_receive(self: UrlConnection, timeout: float | None) -> Event:
        event = await receive(self, timeout)
        if isinstance(event, Silence) and event.seconds >= TIMEOUT:
            counted.replies += 1
        return event

    async def counting_close(self: UrlConnection, code: int = 1000) -> None:
        await close(self, code)
        final = self._final
        if isinstance(final, TransportError) and final.problem.startswith("no close frame"):
            counted.closes += 1

    monkeypatch.setattr(url_module, "handshake_failure", handshake_failure)
    monkeypatch.setattr(UrlConnection, "_receive", counting_receive)
    monkeypatch.setattr(UrlConnection, "close", counting_close)
    yield counted


def _run(address: str, report: Path, *pytest_args: str,
         concurrency: int = 1) -> tuple[int, list[dict[str, Any]]]:
    """``wscheck run`` against ``address``; by default one check after another, so that the
    waits counted are the mute watch's alone (checks side by side each wait their own)."""
    status = main(["run", "--url", f"ws://{address}", "--timeout", str(TIMEOUT),
                   "--concurrency", str(concurrency), "--report", str(report), "--",
                   *pytest_args])
    return status, json.loads(report.read_text())["checks"]


@pytest.mark.parametrize("mute", [no_handshake, mute_after_handshake],
                         ids=["no-handshake", "handshake-then-nothing"])
def test_a_target_that_goes_mute_stops_the_run_once(
        mute: Handler, timeouts: Timeouts, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with raw_server(answers_the_probe_then(mute)) as address:
        status, records = _run(address, tmp_path / "report.json")
    out = capsys.readouterr().out
    assert status == 1, out
    ran = records  # the report lists the checks that ran
    stopped = [r for r in records if "the target stopped answering" in (r.get("message") or "")]
    # One check says the target stopped answering, it is the last that ran, and the rest of
    # the suite did not run.
    assert len(stopped) == 1, records
    assert ran[-1] is stopped[0], [r["id"] for r in ran]
    assert len(ran) < len(SUITE.all()) // 4, [r["id"] for r in ran]
    assert "wscheck: the target does not answer" in out.splitlines()[-2], out
    assert f"not a byte from ws://{address} during {MUTE_AFTER} waits in a row" in out, out
    # The checks before it may each fail on their own timeouts, but at most MUTE_AFTER of
    # those waits were waited out in all (connections waiting side by side count once, so
    # the bound leaves room for one more per check that ran).
    assert MUTE_AFTER <= timeouts.total <= MUTE_AFTER + len(ran), timeouts


@pytest.mark.parametrize("mute", [no_handshake, mute_after_handshake],
                         ids=["no-handshake", "handshake-then-nothing"])
def test_checks_side_by_side_still_stop_the_run_once(
        mute: Handler, timeouts: Timeouts, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With the checks started together (the default concurrency) the run still stops once,
    at the first check in order that met the mute target, and the rest never report."""
    with raw_server(answers_the_probe_then(mute)) as address:
        status, records = _run(address, tmp_path / "report.json",
                               concurrency=DEFAULT_CONCURRENCY)
    out = capsys.readouterr().out
    assert status == 1, out
    stopped = [r for r in records if "the target stopped answering" in (r.get("message") or "")]
    assert len(stopped) == 1, records
    assert records[-1] is stopped[0], [r["id"] for r in records]
    assert len(records) < len(SUITE.all()) // 4, [r["id"] for r in records]
    assert "wscheck: the target does not answer" in out.splitlines()[-2], out
    # Up to DEFAULT_CONCURRENCY checks run at once, each with up to as many conversations
    # at once: that many waits may be in flight, side by side, when the watch trips (each a
    # reply and a close); none is started after it.
    in_flight = DEFAULT_CONCURRENCY * DEFAULT_CONCURRENCY
    assert MUTE_AFTER <= timeouts.total <= 2 * in_flight, timeouts


def test_a_mute_driver_stays_mute_and_a_reply_resets_the_count() -> None:
    """Below the threshold a byte from the target starts the count again; a wait shorter
    than the driver's timeout does not count; once tripped, every connect raises at once (no
    further timeout)."""
    from wscheck.drivers._neterrors import TargetStoppedAnswering

    async def replies_reset(address: str) -> None:
        driver = UrlDriver(f"ws://{address}", timeout=0.2)
        try:
            conn = await driver.connect("/ws")
            for _ in range(3):  # MUTE_AFTER - 1 silences, then a reply, three times over
                for _ in range(MUTE_AFTER - 1):
                    assert isinstance(await conn.receive(), Silence)
                await conn.send_text("x")
                assert not isinstance(await conn.receive(), Silence)
            await conn.close()
        finally:
            await driver.aclose()

    async def stays_mute(address: str) -> None:
        driver = UrlDriver(f"ws://{address}", timeout=0.2)
        try:
            conn = await driver.connect("/ws")
            # Shorter waits are the caller listening for silence: they do not count.
            for _ in range(2 * MUTE_AFTER):
                assert isinstance(await conn.receive(0.05), Silence)
            for _ in range(MUTE_AFTER - 1):
                assert isinstance(await conn.receive(), Silence)
            with pytest.raises(TargetStoppedAnswering, match="stopped answering"):
                await conn.receive()
            await conn.drop()
            with pytest.raises(TargetStoppedAnswering, match="stopped answering"):
                await driver.connect("/ws")
        finally:
            await driver.aclose()

    with raw_server(echo) as address:
        asyncio.run(replies_reset(address))
    with raw_server(mute_after_handshake) as address:
        asyncio.run(stays_mute(address))


def test_a_target_that_goes_mute_during_a_property_stops_the_run_there(
        timeouts: Timeouts, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hypothesis replays a failing example: once the target is mute the replay raises where
    the first run failed on a silence, which Hypothesis calls flaky. The check is reported as
    the run's stop all the same, not as an app that answers differently on a replay."""
    with raw_server(answers_the_probe_then(mute_after_handshake)) as address:
        status, records = _run(address, tmp_path / "report.json", "-k", "prop and not broadcast")
    out = capsys.readouterr().out
    assert status == 1, out
    assert [r["verdict"] for r in records] == ["error"], records
    assert "the target stopped answering" in records[0]["message"], records
    assert "differently on a replay" not in out, out
    assert MUTE_AFTER <= timeouts.total <= MUTE_AFTER + 1, timeouts


# --- in-process: an app that stops answering stops the run once too ------------------------


@dataclass
class AsgiTimeouts:
    """The waits of the in-process driver that ran out in full: handshakes, replies."""

    handshakes: int = 0
    replies: int = 0

    @property
    def total(self) -> int:
        return self.handshakes + self.replies


@pytest.fixture
def asgi_timeouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[AsgiTimeouts]:
    """Counts every wait of the in-process driver that ran out in full."""
    from wscheck.drivers.asgi import AsgiConnection

    counted = AsgiTimeouts()
    handshake, receive = AsgiConnection._handshake, AsgiConnection.receive

    async def counting_handshake(self: AsgiConnection) -> None:
        await handshake(self)
        if isinstance(self.handshake, Silence):
            counted.handshakes += 1

    async def counting_receive(self: AsgiConnection, timeout: float | None = None) -> Event:
        from wscheck.drivers.asgi import TargetStoppedAnswering

        mute_before = self._driver.stopped_answering
        try:
            event = await receive(self, timeout)
        except TargetStoppedAnswering:
            counted.replies += mute_before is None  # this wait was the last straw
            raise
        if isinstance(event, Silence) and event.seconds >= TIMEOUT:
            counted.replies += 1
        return event

    monkeypatch.setattr(AsgiConnection, "_handshake", counting_handshake)
    monkeypatch.setattr(AsgiConnection, "receive", counting_receive)
    yield counted


@pytest.mark.parametrize("app", ["mute_after_probe", "mute_after_accept"])
def test_an_in_process_app_that_goes_mute_stops_the_run_once(
        app: str, asgi_timeouts: AsgiTimeouts, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The app answers the probe, then every connection awaits forever (the loop free, so
    the watchdog has nothing to say): without the stop, every check waited out its own
    timeouts (a few minutes in all)."""
    import tests.apps as apps

    target = getattr(apps, app)
    target.connections = 0
    report = tmp_path / "report.json"
    status = main(["run", "--app", f"tests.apps:{app}", "--timeout", str(TIMEOUT),
                   "--report", str(report)])
    records = json.loads(report.read_text())["checks"]
    out = capsys.readouterr().out
    assert status == 1, out
    assert target.connections > 1  # it did answer the probe, then went mute
    stopped = [r for r in records if "the target stopped answering" in (r.get("message") or "")]
    assert len(stopped) == 1, records
    assert records[-1] is stopped[0], [r["id"] for r in records]
    assert len(records) < len(SUITE.all()) // 4, [r["id"] for r in records]
    assert "wscheck: the target does not answer" in out.splitlines()[-2], out
    assert f"not a message from tests.apps:{app} during {MUTE_AFTER} waits in a row" in out, out
    # The checks that wait on the clock start early, beside the others, and while the kit
    # waits (its process idle) more start ahead of their turn, up to DEFAULT_CONCURRENCY
    # running at once (wscheck.run.schedule): each of those may wait out a handshake or a reply,
    # and one started as another ended one more, while the stop is on its way; all of them
    # side by side, so the run takes no longer for them.
    early = sum(1 for c in SUITE.all() if c.waits)
    assert MUTE_AFTER <= asgi_timeouts.total <= \
        MUTE_AFTER + len(records) + early + 2 * DEFAULT_CONCURRENCY, asgi_timeouts


def test_an_in_process_app_known_idle_is_not_mute() -> None:
    """Waits that end early because the app sits idle in ``receive()`` are observations, not
    silence, and a wait shorter than the timeout is the caller listening on purpose: neither
    counts, however many; a message from the app starts the count again."""
    from tests.apps import busy_silent, silent
    from wscheck.drivers.asgi import AsgiDriver, TargetStoppedAnswering

    async def idle() -> None:
        driver = AsgiDriver(silent, timeout=0.2)
        try:
            for _ in range(2 * MUTE_AFTER):
                conn = await driver.connect("/ws")
                assert await conn.receive() == Silence(0.0)
                await conn.close()
            assert driver.stopped_answering is None
        finally:
            await driver.aclose()

    async def busy() -> None:
        driver = AsgiDriver(busy_silent, timeout=0.2)
        try:
            conn = await driver.connect("/ws")
            for _ in range(2 * MUTE_AFTER):
                assert isinstance(await conn.receive(0.05), Silence)
            for _ in range(MUTE_AFTER - 1):
                assert await conn.receive() == Silence(0.2)
            with pytest.raises(TargetStoppedAnswering, match="not a message from app during"):
                await conn.receive()
            with pytest.raises(TargetStoppedAnswering, match="stopped answering"):
                await driver.connect("/ws")
        finally:
            await driver.aclose()

    asyncio.run(idle())
    asyncio.run(busy())
