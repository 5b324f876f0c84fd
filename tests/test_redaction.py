"""What the target sends back, shown safely: credentials masked wherever they reappear,
control characters escaped in the terminal, and long texts clipped everywhere.

The apps here are hostile on purpose: one echoes the credentials it was sent in replies, close
reasons and exceptions; one answers with terminal escape sequences; one answers with a
megabyte. Each run writes every output the kit has (terminal, JUnit XML, JSON, HTML) and the
test looks for what must not be there — and, with ``--wscheck-show-credentials``, for what
must, so that the masking tests can fail.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests import apps
from tests.servers import serve_uvicorn
from tests.test_report import validate
from wscheck.cli.main import main
from wscheck.core.limits import CLIP_BYTES, CLIP_LENGTH, clip, printable
from wscheck.run.registry import SUITE

SUITE.all()  # one check registry for every inner pytest run
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")

#: Echoes the credentials it was sent: in a reply, then in a close reason (cookie) or in an
#: exception (token). It notes every credential in ``seen.txt``, so the test knows them all.
LEAKY_APP = r'''
import urllib.parse


def credentials(scope):
    query = dict(urllib.parse.parse_qsl(scope["query_string"].decode(),
                                        keep_blank_values=True))
    cookies = {}
    for key, value in scope["headers"]:
        if key == b"cookie":
            for part in value.decode().split("; "):
                name, _, val = part.partition("=")
                cookies[name] = val
    return cookies.get("session"), query.get("token")


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    cookie, token = credentials(scope)
    with open("seen.txt", "a", encoding="utf-8") as f:
        f.writelines(v + "\n" for v in (cookie, token) if v)
    await send({"type": "websocket.accept"})
    await receive()
    await send({"type": "websocket.send", "text": f"you sent {cookie or token}"})
    if cookie:
        await send({"type": "websocket.close", "code": 1011,
                    "reason": f"session {cookie} rejected"})
        return
    raise RuntimeError(f"token {token} refused")
'''

#: Terminal escape sequences in a reply, a close reason and an exception after the close.
ESCAPING_APP = r'''
EVIL = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e"


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    await send({"type": "websocket.send", "text": EVIL + "reply"})
    await send({"type": "websocket.close", "code": 1000, "reason": EVIL + "reason"})
    raise RuntimeError(EVIL + "exception")
'''

#: A megabyte of reply, a megabyte of binary, and two megabytes of exception text.
HUGE_APP = r'''
async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    await send({"type": "websocket.send", "text": "x" * 1_000_000 + "END"})
    await send({"type": "websocket.send", "bytes": b"\x01" * 1_000_000})
    await send({"type": "websocket.close", "code": 1000})
    raise RuntimeError("y" * 2_000_000)
'''

CREDENTIAL_CHECKS = "auth.token or auth.cookie"


@pytest.fixture
def kit(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(wsapps=APPS_SOURCE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


def outputs(pytester: pytest.Pytester, result: pytest.RunResult) -> dict[str, str]:
    """Everything the run showed or wrote."""
    return {
        "terminal": result.stdout.str() + result.stderr.str(),
        "json": (pytester.path / "run.json").read_text(encoding="utf-8"),
        "html": (pytester.path / "run.html").read_text(encoding="utf-8"),
        "junit": (pytester.path / "junit.xml").read_text(encoding="utf-8"),
    }


def all_outputs_args() -> list[str]:
    return ["--wscheck-report", "run.json", "--wscheck-html", "run.html",
            "--junitxml", "junit.xml"]


@pytest.mark.parametrize("shown", [False, True], ids=["masked", "shown"])
def test_credentials_echoed_anywhere_are_masked_everywhere(kit: pytest.Pytester,
                                                           shown: bool) -> None:
    kit.makepyfile(leaky=LEAKY_APP)
    result = run(kit, "--wscheck-app", "leaky:app", "-k", CREDENTIAL_CHECKS,
                 *all_outputs_args(), *(["--wscheck-show-credentials"] if shown else []))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    seen = set((kit.path / "seen.txt").read_text(encoding="utf-8").split("\n")) - {""}
    # The fixed credentials of the auth checks, as the app received them.
    assert {"some-token", "cookie-value-42", "from-cookie", "from-token"} <= seen
    found = outputs(kit, result)
    report = json.loads(found["json"])
    validate(report)
    events = [e for c in report["checks"] for e in c["observed"] + [c["aftermath"] or {}]]
    reasons = [e["reason"] for e in events if e.get("type") == "closed"]
    crashes = [e["exception"] for e in events if e.get("type") == "app_crashed"]
    assert reasons and crashes  # the app did echo them where the test looks
    if shown:
        assert "session cookie-value-42 rejected" in reasons
        assert any("token some-token refused" in c for c in crashes)
        assert "cookie-value-42" in found["terminal"]
        return
    for where, text in found.items():
        for secret in seen:
            assert secret not in text, f"{secret!r} in the {where} output"
    assert "session c•••" in " ".join(reasons)
    assert any("token s•••" in c for c in crashes)


def _leaky_module(path: Path) -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("leaky_for_network", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_network_failures_mask_credentials_in_the_snippet(kit: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the network, a failure prints the conversation as httpx-ws code: with masked
    values and a comment saying how to see the real ones."""
    (kit.path / "leaky_net.py").write_text(LEAKY_APP, encoding="utf-8")
    monkeypatch.chdir(kit.path)
    leaky = _leaky_module(kit.path / "leaky_net.py")
    with serve_uvicorn(leaky.app) as address:  # type: ignore[attr-defined]
        result = run(kit, "--wscheck-url", f"ws://{address}", "-k", "auth.cookie",
                     "--junitxml", "junit.xml", "--log-level=INFO", "-o", "junit_logging=all")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    terminal = result.stdout.str()
    # At INFO the network client logs each request's URL; pytest shows the captured log.
    assert f"HTTP Request: GET ws://{address}/item/ws?token=•••" in terminal
    assert "this conversation with httpx-ws" in terminal
    assert "# credentials are masked (t•••): run with --wscheck-show-credentials" in terminal
    seen = set((kit.path / "seen.txt").read_text(encoding="utf-8").split("\n")) - {""}
    assert "cookie-value-42" in seen
    junit = (kit.path / "junit.xml").read_text(encoding="utf-8")
    for secret in seen:
        assert secret not in terminal and secret not in junit


def test_escape_sequences_from_the_target_are_never_printed_raw(
    kit: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    kit.makepyfile(escaping=ESCAPING_APP)
    result = run(kit, "--wscheck-app", "escaping:app", "-k", "echo.exact",
                 *all_outputs_args())
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    found = outputs(kit, result)
    terminal = found["terminal"]
    assert "reply" in terminal and "exception" in terminal  # shown, escaped
    assert "\\x1b[2J" in terminal
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in terminal
        assert raw not in found["json"]  # JSON escapes them: \u001b
        assert raw not in found["junit"]
    capsys.readouterr()
    status = main(["replay", str(kit.path / "run.json"), "echo.exact", "--app", "escaping:app"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "\\x1b]0;pwned\\x07" in out
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in out + err


def test_huge_replies_and_exceptions_are_clipped(kit: pytest.Pytester) -> None:
    kit.makepyfile(huge=HUGE_APP)
    result = run(kit, "--wscheck-app", "huge:app", "-k", "echo.exact", *all_outputs_args())
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    found = outputs(kit, result)
    report = json.loads(found["json"])
    validate(report)
    # Before: 17 MB of JSON, 9 MB of HTML, a 2 MB terminal line.
    assert len(found["json"]) < 100_000
    assert len(found["html"]) < 100_000
    assert len(found["terminal"]) < 100_000
    assert max(len(line) for line in found["terminal"].splitlines()) < 1_000
    record = report["checks"][0]
    text = next(e["text"] for e in record["observed"] if e["type"] == "text")
    digest = hashlib.sha256(("x" * 1_000_000 + "END").encode()).hexdigest()[:16]
    assert text.startswith("x" * 100)
    assert text.endswith("xEND")
    assert f"[clipped: 1000003 chars, sha256 {digest}…]" in text
    assert len(text) < CLIP_LENGTH + 100
    binary = next(e for e in record["observed"] if e["type"] == "binary")
    assert binary["size"] == 1_000_000
    import base64

    assert len(base64.b64decode(binary["base64"])) == CLIP_BYTES
    # The exception reads "RuntimeError: yyy…": 2 000 014 characters.
    assert "[clipped: 2000014 chars" in record["aftermath"]["exception"]
    assert "[clipped: 2000014 chars" in found["terminal"]


def test_clip_and_printable() -> None:
    assert clip("short") == "short"
    long = "a" * 10 + "b" * 10
    clipped = clip(long, 6)
    assert clipped.startswith("aaaa…[clipped: 20 chars, sha256 ")
    assert clipped.endswith("…bb")
    assert clip("a" * 19 + "c", 6) != clipped  # the digest tells equal-looking texts apart
    assert printable("plain 中文 text") == "plain 中文 text"
    assert printable("a\x1b[2Jb\x07\x9b\u202e\u2028\ud800") == (
        "a\\x1b[2Jb\\x07\\x9b\\u202e\\u2028\\ud800")
    assert printable("two\nlines\tand\x1b", keep_newlines=True) == "two\nlines\tand\\x1b"
    assert printable("two\nlines") == "two\\x0alines"
    assert re.fullmatch(r"[ -~]*", printable("".join(map(chr, range(0x20)))))
