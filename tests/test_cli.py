"""The ``wscheck`` command: ``run`` (as a subprocess, like a user), ``spec`` and ``serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests import apps
from wscheck.cli.main import main
from wscheck.config.settings import TABLE
from wscheck.core.spec import EchoSpec, Spec, load_spec
from wscheck.run.registry import SUITE

CHECK_IDS = [c.id for c in SUITE.all()]
#: The checks that apply to the reference protocol (the broadcast room's do not).
APPLICABLE = [c.id for c in SUITE.all() if not c.not_applicable(Spec())]
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")


def wscheck(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "wscheck", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: the test apps, and a test suite of its own that ``wscheck run`` must
    leave alone (it would fail)."""
    (tmp_path / "wsapps.py").write_text(APPS_SOURCE, encoding="utf-8")
    (tmp_path / "broken_module.py").write_text("from wsapps import stripping_app as app\n",
                                               encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_users_own.py").write_text(
        "def test_users_own():\n    assert False, 'collected by mistake'\n", encoding="utf-8")
    (tmp_path / "conftest.py").write_text("raise RuntimeError('conftest imported')\n",
                                          encoding="utf-8")
    return tmp_path


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# --- run ----------------------------------------------------------------------------------------


def test_run_passes_the_reference_app_and_ignores_the_users_tests(project: Path) -> None:
    result = wscheck(project, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(APPLICABLE)} passed" in result.stdout
    assert "target: reference_app:app" in result.stdout
    assert "test_users_own" not in result.stdout
    assert "conftest imported" not in result.stdout + result.stderr


def test_run_fails_a_broken_app(project: Path) -> None:
    result = wscheck(project, "run", "--app", "broken_module:app", "--", "-k",
                     "echo.exact or echo.whitespace or echo.newlines or bye.sequence "
                     "or bye.exact-word")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 failed, 2 passed" in result.stdout
    failed = {line.split()[1] for line in result.stdout.splitlines()
              if line.startswith("FAILED wscheck::")}
    assert failed == {"wscheck::echo.whitespace", "wscheck::echo.newlines",
                      "wscheck::bye.exact-word"}
    assert "test_users_own" not in result.stdout
    # The replay hint is a command that works here: `wscheck run` takes --report.
    assert ("replay: add --report wscheck-report.json, then: wscheck replay "
            "wscheck-report.json echo.whitespace --app broken_module:app") in result.stdout
    assert "--wscheck-report" not in result.stdout


def test_run_help_lists_every_setting_and_the_pytest_passthrough(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Arguments after `--` go to pytest" in out
    for setting in TABLE:
        if setting.cli_flag:
            assert setting.cli_flag in out
    assert "--no-suite" not in out


def test_run_with_a_missing_app_is_one_line(project: Path) -> None:
    result = wscheck(project, "run", "--app", "missing:app")
    assert result.returncode == 4
    line = one_line(result.stderr)
    assert "cannot import the app 'missing:app'" in line
    assert "Traceback" not in result.stdout


def test_run_reads_tool_wscheck_but_not_the_users_pytest_settings(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "--no-such-option"\n\n'
        '[tool.wscheck.echo]\nreply = "You said: {message}"\n', encoding="utf-8")
    # `wscheck run` keeps the current directory: the app may open files relative to it.
    (project / "custom_chat.py").write_text(
        "from wsapps import ChatApp\nfrom wscheck.core.spec import load_spec\n"
        "app = ChatApp(load_spec('pyproject.toml'))\n",
        encoding="utf-8")
    result = wscheck(project, "run", "--app", "custom_chat:app", "--", "-k", "echo.exact")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    digest = Spec(echo=EchoSpec(reply="You said: {message}")).digest()
    assert f"spec: {digest}" in result.stdout


# --- spec ---------------------------------------------------------------------------------------


def test_spec_prints_the_reference_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["spec"]) == 0
    out = capsys.readouterr().out
    assert 'reply = "接收到的消息是:{message}"' in out
    (tmp_path / "printed.toml").write_text(out, encoding="utf-8")
    assert load_spec(tmp_path / "printed.toml") == Spec()


def test_spec_prints_the_projects_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.wscheck.echo]\nbye = ""\n',
                                             encoding="utf-8")
    assert main(["spec"]) == 0
    (tmp_path / "printed.toml").write_text(capsys.readouterr().out, encoding="utf-8")
    assert load_spec(tmp_path / "printed.toml") == Spec(echo=EchoSpec(bye=None))


def test_spec_from_a_bad_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[echo]\nbye_close_code = "1000"\n', encoding="utf-8")
    result = wscheck(tmp_path, "spec", "--spec", "bad.toml")
    assert result.returncode == 4
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith("wscheck spec: ")
    assert "bad.toml" in line
    assert "echo.bye_close_code must be an integer, got string" in line


# --- serve --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_serves_the_chat_page(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wscheck", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert proc.poll() is None, "wscheck serve exited early"
        assert response is not None, "wscheck serve did not answer within 20 s"
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "<input" in response.text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_serve_refuses_port_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0"]) == 4
    assert "--port must be between 1 and 65535, got 0" in capsys.readouterr().err


def test_serve_refuses_a_non_positive_message_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-message-size", "0"]) == 4
    assert "--max-message-size must be at least 1 byte" in capsys.readouterr().err


def test_run_of_a_starlette_app_prints_no_warning_of_pytest_itself(tmp_path: Path) -> None:
    """``wscheck run --app`` imports the app before pytest starts (so that a bad app is its own
    one line), and every Starlette app imports anyio, whose pytest plugin pytest then cannot
    assert-rewrite: the first run a user sees must not show pytest's warning about that."""
    (tmp_path / "starlette_app.py").write_text(
        "from starlette.applications import Starlette\n"
        "from starlette.routing import WebSocketRoute\n"
        "async def echo(ws):\n"
        "    await ws.accept()\n"
        "app = Starlette(routes=[WebSocketRoute('/ws', echo)])\n", encoding="utf-8")
    result = wscheck(tmp_path, "run", "--app", "starlette_app:app", "--", "-k", "echo.accept")
    output = result.stdout + result.stderr
    assert "wscheck::echo.accept" in output or "1 passed" in output, output
    assert "PytestAssertRewriteWarning" not in output, output
