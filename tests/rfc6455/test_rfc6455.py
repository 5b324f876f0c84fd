"""The rfc6455 suite: its frame codec, the hand-written server with one defect at a time (each
fails its named cases and no other MUST case), the verdict tables of real servers, and the
suite run the way users run it (pytest, ``wscheck run``, in-process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.raw_servers import raw_server, read_request, read_until_gone
from tests.rfc6455.broken_server import DEFECTS, broken_server
from tests.rfc6455.suite import rfc6455_verdicts
from tests.rfc6455.tables import SERVERS, checked_in, table
from tests.test_report import validate
from wscheck.core.frames import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    Frame,
    FrameError,
    FrameReader,
    close_payload,
    describe,
    mask,
    parse_close,
)
from wscheck.run.registry import RFC6455

ROOT = Path(__file__).resolve().parent.parent.parent
IDS = [c.id for c in RFC6455.all()]

# --- the frame codec ------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4),
                                              (65536, 10)])
def test_a_frame_takes_the_length_form_its_size_needs(size: int, header: int) -> None:
    frame = Frame(BINARY, bytes(size % 256 for _ in range(size)), masked=False)
    data = frame.encode()
    assert len(data) == header + size
    assert FrameReader(1 << 20).feed(data) == [frame]


def test_masking_is_undone_by_the_reader_and_bits_are_kept() -> None:
    frame = Frame(0x3, b"reserved opcode", fin=False, rsv=5)
    data = frame.encode(b"\x01\x02\x03\x04")
    assert data[0] == 0x53 and data[1] == 0x80 | 15
    assert data[6:] == mask(b"reserved opcode", b"\x01\x02\x03\x04") != b"reserved opcode"
    assert FrameReader(100).feed(data) == [frame]


def test_the_reader_takes_frames_in_pieces_and_refuses_oversize_ones() -> None:
    reader = FrameReader(1000)
    data = Frame(TEXT, b"ab", masked=False).encode() + Frame(PING, b"", masked=False).encode()
    assert reader.feed(data[:3]) == []
    assert reader.feed(data[3:]) == [Frame(TEXT, b"ab", masked=False),
                                     Frame(PING, masked=False)]
    with pytest.raises(FrameError, match="1001 bytes"):
        reader.feed(Frame(BINARY, b"", masked=False, length=1001).encode())


def test_close_payloads_and_trace_lines() -> None:
    assert parse_close(close_payload(1002, b"why")) == (1002, b"why")
    assert parse_close(b"\x03") == (None, b"")
    assert describe(Frame(CLOSE, close_payload(1000))) == "CLOSE fin 2 bytes code 1000"
    assert describe(Frame(TEXT, b"\xff", rsv=4, masked=False)) == (
        "TEXT fin rsv=100 unmasked 1 bytes ff")
    # A server's frame is unmasked as it must be: said only when it is masked.
    assert describe(Frame(TEXT, b"ab", masked=False), from_client=False) == "TEXT fin 2 bytes 'ab'"
    assert describe(Frame(PING), from_client=False) == "PING fin masked 0 bytes"


# --- one defect at a time -------------------------------------------------------------------------

def _ids(*prefixes: str) -> set[str]:
    return {i for i in IDS if any(i == f"rfc6455.{p}" or i.startswith(f"rfc6455.{p}")
                                  for p in prefixes)}


#: The cases each defect fails: all of them, and only those (no other case fails or warns).
EXPECTED: dict[str, set[str]] = {
    "accepts-invalid-utf8": _ids("utf8.invalid-", "utf8.fail-fast"),
    "no-reassembly": _ids("fragments.text-", "fragments.binary-", "fragments.ping-inside",
                          "fragments.pong-inside", "utf8.valid-split"),
    "ping-as-message": _ids("ping.empty", "ping.payload", "ping.binary-125",
                            "fragments.ping-inside"),
    "no-close-answer": _ids("close.answered", "close.empty", "close.reason-123",
                            "close.valid-", "close.nothing-after"),
    "accepts-unmasked": _ids("mask.unmasked"),
    "accepts-rsv": _ids("rsv."),
    "accepts-reserved-opcodes": _ids("opcode."),
    "accepts-invalid-close-codes": _ids("close.invalid-"),
    "accepts-big-control": _ids("ping.over-125"),
    "data-after-close": _ids("close.nothing-after"),
    "validates-per-message": set(),
}
#: The long cases are INFORMATIONAL whatever the server does: left out of the defect runs.
NO_LIMITS = [i for i in IDS if not i.startswith("rfc6455.limits.")]


def test_every_defect_has_its_expectation() -> None:
    assert set(EXPECTED) == set(DEFECTS)
    assert all(EXPECTED[d] or d == "validates-per-message" for d in DEFECTS)


def test_the_hand_written_server_without_a_defect_passes_every_case() -> None:
    with broken_server(None) as url:
        found = rfc6455_verdicts(url, timeout=1.0)
    words = {case: word for case, (word, _) in found.items()}
    assert {c for c, w in words.items() if w != "pass"} == {
        "rfc6455.deflate.echo", "rfc6455.limits.message-16mib", "rfc6455.limits.many-frames"}
    assert words["rfc6455.deflate.echo"] == "not applicable"
    assert words["rfc6455.limits.message-16mib"] == "informational"
    assert "echoed 16777216 bytes" in str(found["rfc6455.limits.message-16mib"][1].informational)


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_fails_its_cases_and_no_other(defect: str) -> None:
    with broken_server(defect) as url:
        found = rfc6455_verdicts(url, timeout=0.5, only=NO_LIMITS)
    failing = {case for case, (word, _) in found.items() if word in ("fail", "warn")}
    assert failing == EXPECTED[defect]
    for case in failing:
        word, verdict = found[case]
        assert word == "fail", (case, verdict.problem)
        assert verdict.trace and verdict.trace[1].split()[1] == "→", verdict.trace
    if defect == "validates-per-message":
        word, verdict = found["rfc6455.utf8.fail-fast"]
        assert word == "informational" and "per message" in str(verdict.informational)


def test_a_server_that_answers_a_close_with_another_code_is_non_strict() -> None:
    """daphne's behaviour, reproduced: answering every close with 1000 is allowed (the RFC
    says a close code is typically echoed), so a warning with its reason, not a failure."""
    async def answers_1000(reader, writer) -> None:  # type: ignore[no-untyped-def]
        headers = await read_request(reader)
        from tests.raw_servers import accept_token

        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_token(headers['sec-websocket-key'].encode())}\r\n\r\n"
                      ).encode() + Frame(CLOSE, close_payload(1000), masked=False).encode())
        await read_until_gone(reader)

    with raw_server(answers_1000) as address:
        found = rfc6455_verdicts(f"ws://{address}/", timeout=0.5,
                                 only=["rfc6455.close.valid-3000"])
    word, verdict = found["rfc6455.close.valid-3000"]
    assert word == "warn" and verdict.non_strict
    assert "carries 1000, not the client's 3000" in str(verdict.problem)


# --- real servers: the checked-in tables ----------------------------------------------------------

SLOW_SERVERS = {"hypercorn", "daphne", "websockets", "node-ws"}


@pytest.mark.parametrize("server", [
    pytest.param(s, marks=pytest.mark.slow) if s in SLOW_SERVERS else s for s in SERVERS])
def test_a_real_servers_verdicts_are_its_checked_in_table(server: str) -> None:
    """A change in a server (or in the suite) shows as a diff of one table: regenerate with
    ``python -m tests.rfc6455.tables SERVER`` and say why in the commit."""
    expected = checked_in(server)
    assert list(expected) == IDS
    assert table(server) == expected


# --- the way users run it -------------------------------------------------------------------------

def _run(cwd: Path, *args: str, module: str = "pytest") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_pytest_runs_the_suite_reports_frames_and_fails_on_a_defect(tmp_path: Path) -> None:
    with broken_server("accepts-unmasked") as url:
        result = _run(tmp_path, "-p", "no:cacheprovider", "-q", f"--wscheck-url={url}",
                      "--wscheck-suite=rfc6455", "--wscheck-timeout=0.5",
                      "--wscheck-report=r.json", "--wscheck-html=r.html",
                      "--junitxml=j.xml", "-k", "mask or ping or limits")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  rfc6455.mask.unmasked [MUST]: after an unmasked frame" in result.stdout
    assert "INFO  rfc6455.limits.message-16mib [SHOULD]: echoed" in result.stdout
    assert "→ TEXT fin unmasked 10 bytes 'not masked'" in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)  # the schema of docs/report-schema.md: traces and the new verdict
    records = {c["id"]: c for c in report["checks"]}
    assert set(records) == {i for i in IDS if "mask" in i or "ping" in i or "limits" in i}
    assert records["rfc6455.mask.unmasked"]["verdict"] == "fail"
    assert any("unmasked" in line for line in records["rfc6455.mask.unmasked"]["trace"])
    assert records["rfc6455.limits.many-frames"]["verdict"] == "informational"
    assert report["summary"]["informational"] == 2 and report["summary"]["fail"] == 1
    assert "frames (→ sent by the kit, ← received)" in (tmp_path / "r.html").read_text()
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    failure = cases["rfc6455.mask.unmasked"].find("failure")
    assert failure is not None and "unmasked" in (failure.text or "")
    assert "-k rfc6455.mask.unmasked" in (failure.text or "")  # how to run it again
    replay = _run(tmp_path, "replay", "r.json", "rfc6455.mask.unmasked", module="wscheck")
    assert replay.returncode == 4
    assert f"run it again with: wscheck run --url {url} --suite rfc6455 -- -k " in replay.stderr


def test_a_known_failure_of_the_rfc6455_suite_is_an_xfail(tmp_path: Path) -> None:
    """The suite chosen by the ini key, a known failure listed by its rfc6455 id."""
    (tmp_path / "known.txt").write_text("rfc6455.mask.unmasked  # our server's own defect\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nwscheck_suite = rfc6455\n"
                                         "wscheck_xfail = known.txt\n")
    with broken_server("accepts-unmasked") as url:
        result = _run(tmp_path, "-p", "no:cacheprovider", "-q", "-rN", f"--wscheck-url={url}",
                      "--wscheck-timeout=0.5", "-k", "mask or rsv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed, 80 deselected, 1 xfailed" in result.stdout


def test_wscheck_run_checks_an_app_in_process_through_uvicorn(tmp_path: Path) -> None:
    result = _run(tmp_path, "run", "--app", "tests.rfc6455.echo_app:app", "--suite",
                  "rfc6455", "--", "-k", "framing or close.valid", module="wscheck")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "25 passed" in result.stdout


def test_wscheck_run_checks_the_reference_app_through_the_spec_with_both_suites(
        tmp_path: Path) -> None:
    """The reference app is no plain echo: the probe finds the spec's echo endpoint (/ws) and
    the rfc6455 suite reads its replies through the spec (prefixed texts, 1003 for binary)."""
    result = _run(tmp_path, "run", "--suite", "all", "--report", "r.json", "--",
                  "-k", "echo.exact or rfc6455.framing or rfc6455.limits", module="wscheck")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout
    records = {c["id"]: c for c in json.loads((tmp_path / "r.json").read_text())["checks"]}
    assert records["echo.exact"]["verdict"] == "pass"
    trace = records["rfc6455.limits.many-frames"]["trace"]
    assert "/ws (the chat protocol's echo endpoint" in trace[0]
    assert "answered as the spec says, a close frame (1003)" in " ".join(
        records["rfc6455.limits.many-frames"]["notes"])


def test_a_server_that_does_not_echo_is_reported_once(tmp_path: Path) -> None:
    """The suite's precondition, said once, in one line: a server that answers nothing after
    its handshake stops the run, bounded by the timeout, instead of failing 85 cases."""
    async def mute(reader, writer) -> None:  # type: ignore[no-untyped-def]
        headers = await read_request(reader)
        from tests.raw_servers import accept_token

        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_token(headers['sec-websocket-key'].encode())}\r\n\r\n"
                      ).encode())
        await read_until_gone(reader)

    with raw_server(mute) as address:
        result = _run(tmp_path, "-p", "no:cacheprovider", "-q",
                      f"--wscheck-url=ws://{address}/echo", "--wscheck-suite=rfc6455",
                      "--wscheck-timeout=0.5")
    assert result.returncode == 1, result.stdout + result.stderr
    said = [line for line in result.stdout.splitlines() if "does not echo" in line]
    assert said and all("silence" in line for line in said)
    assert "1 failed" in result.stdout


def test_a_bad_suite_name_is_a_usage_error(tmp_path: Path) -> None:
    result = _run(tmp_path, "run", "--url", "ws://127.0.0.1:9/", "--suite", "autobahn",
                  module="wscheck")
    assert result.returncode == 4
    assert "--suite must be one of chat, rfc6455, all, got 'autobahn'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_that_streams_frames_forever_holds_no_case() -> None:
    """A hostile server: after its handshake it sends pings and fragments without end. Every
    case still ends, bounded by its waits, with a verdict that is not a pass."""
    async def streams(reader, writer) -> None:  # type: ignore[no-untyped-def]
        import asyncio

        from tests.raw_servers import accept_token

        headers = await read_request(reader)
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_token(headers['sec-websocket-key'].encode())}\r\n\r\n"
                      ).encode() + Frame(TEXT, b"start", fin=False, masked=False).encode())
        for _ in range(20000):  # bounded: about 20 s at most
            writer.write(Frame(PING, b"p", masked=False).encode()
                         + Frame(0x0, b"c", fin=False, masked=False).encode())
            await writer.drain()
            await asyncio.sleep(0.001)

    cases = ["rfc6455.framing.text-0", "rfc6455.close.answered", "rfc6455.mask.unmasked",
             "rfc6455.close.nothing-after", "rfc6455.close.tcp-by-server",
             "rfc6455.ping.payload"]
    with raw_server(streams) as address:
        found = rfc6455_verdicts(f"ws://{address}/", timeout=0.2, only=cases)
    assert set(found) == set(cases)
    assert all(word in ("fail", "inconclusive") for word, _ in found.values()), found


def test_the_docs_case_table_is_the_catalogue() -> None:
    from wscheck.cli.main import rfc6455_catalogue

    doc = (ROOT / "docs" / "rfc6455.md").read_text(encoding="utf-8")
    table = doc.split("<!-- cases -->\n", 1)[1].split("<!-- /cases -->", 1)[0]
    assert table == rfc6455_catalogue(), "run: wscheck checks --suite rfc6455 --markdown"
    assert len(IDS) == 85 and all(c.line.startswith("RFC ") for c in RFC6455.all())


def test_the_suites_by_name() -> None:
    from wscheck.run.registry import SUITE, find_check, suite_checks

    chat = [c.id for c in SUITE.all()]
    assert [c.id for c in suite_checks("chat")] == chat
    assert [c.id for c in suite_checks("rfc6455")] == IDS
    assert [c.id for c in suite_checks("all")] == chat + IDS
    assert find_check("rfc6455.mask.unmasked") is RFC6455["rfc6455.mask.unmasked"]
    assert find_check("echo.exact") is SUITE["echo.exact"] and find_check("nope") is None
    assert not any(i.startswith("rfc6455.") for i in chat)
