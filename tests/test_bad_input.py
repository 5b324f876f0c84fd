"""Bad input to the kit, through ``pytest`` and through the ``wscheck`` command: exit status 4,
one line that says what is wrong, no traceback.

``tests/test_plugin.py`` (pytest) and ``tests/test_cli.py`` (``wscheck``) already cover part
of this; the cases here are the ones they do not: more kinds of non-ASGI objects, more wrong
URLs, every kind of bad spec value, bad numbers, a missing CA bundle, and the ``wscheck``
route for all of it. The ``wscheck`` runs are subprocesses, as a user runs them, started all
at once (bounded) by one fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpcore  # noqa: F401
import pytest

import wscheck.drivers.url  # noqa: F401
from tests import apps
from wscheck.run.registry import SUITE

# The check modules, httpcore and the network driver are imported here, before pytester
# snapshots sys.modules, so that every inner run shares them: httpx caches httpcore's
# exception classes, which a fresh import inside an inner run would replace.
CHECK_IDS = [c.id for c in SUITE.all()]
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")

BAD_APPS = """
    import asyncio

    not_an_app = 42

    def sync_app(scope, receive, send):
        pass

    async def generator_app(scope, receive, send):
        yield

    async def one_argument(scope):
        pass
"""

SPEC_FILES = {
    "malformed.toml": "[echo\n",
    "unknown_key.toml": '[echo]\nreplyy = "{message}"\n',
    "unknown_section.toml": '[chat]\npath = "/chat"\n',
    "code_as_string.toml": '[echo]\nbye_close_code = "1000"\n',
    "farewells_as_string.toml": '[echo]\nfarewells = "bye"\n',
    "enabled_as_string.toml": '[auth]\nenabled = "no"\n',
    "section_not_a_table.toml": "echo = 5\n",
    "code_out_of_range.toml": "[auth]\ndenied_close_code = 99999\n",
    "unknown_template_field.toml": '[echo]\nreply = "{msg}"\n',
    "path_without_slash.toml": '[echo]\npath = "ws"\n',
    "not_utf8.toml": b'[echo]\nreply = "\xff\xfe"\n',
}


def make_project(path: Path) -> None:
    """A scratch project: the test apps (``wsapps``), broken ones (``badapps``), bad specs."""
    (path / "wsapps.py").write_text(APPS_SOURCE, encoding="utf-8")
    (path / "badapps.py").write_text(textwrap.dedent(BAD_APPS), encoding="utf-8")
    (path / "adir.toml").mkdir()
    for name, content in SPEC_FILES.items():
        target = path / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


def assert_one_line(returncode: int, stdout: str, stderr: str, *fragments: str) -> str:
    """Exit 4, a single non-empty line of output in all, no traceback; returns the line."""
    output = stdout + stderr
    assert returncode == 4, f"exit {returncode}:\n{output[-3000:]}"
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, lines[:20]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- through pytest --------------------------------------------------------------------------

PYTEST_CASES = [
    pytest.param(["--wscheck-app", "badapps:sync_app"],
                 ["'badapps:sync_app' is a plain (not async) function, not an ASGI app"],
                 id="sync-function"),
    pytest.param(["--wscheck-app", "badapps:generator_app"],
                 ["async generator function, not an ASGI app"], id="async-generator"),
    pytest.param(["--wscheck-app", "badapps:one_argument"], ["not an ASGI app"],
                 id="one-argument"),
    pytest.param(["--wscheck-app", "badapps:asyncio"], ["is module, not an ASGI app"],
                 id="a-module"),
    pytest.param(["--wscheck-app", "badapps:missing()"], ["has no attribute 'missing'"],
                 id="missing-factory"),
    pytest.param(["--wscheck-url", "https://127.0.0.1:8000"], ["ws:// or wss://"],
                 id="https-url"),
    pytest.param(["--wscheck-url", "ftp://127.0.0.1:8000"], ["ws:// or wss://"],
                 id="ftp-url"),
    pytest.param(["--wscheck-url", "127.0.0.1:8000"], ["write it as ws://127.0.0.1:8000"],
                 id="url-without-scheme"),
    pytest.param(["--wscheck-url", "ws://127.0.0.1:8000/?token=x"],
                 ["must not carry a query string"], id="url-with-query"),
    pytest.param(["--wscheck-url", "ws://127.0.0.1:70000"], ["port out of range"],
                 id="url-port-out-of-range"),
    *[pytest.param(["--wscheck-spec", name], [name, expected], id=name.removesuffix(".toml"))
      for name, expected in [
          ("unknown_section.toml", "'chat'"),
          ("code_as_string.toml", "echo.bye_close_code must be an integer, got string"),
          ("farewells_as_string.toml", "echo.farewells must be an array of strings"),
          ("enabled_as_string.toml", "auth.enabled must be a boolean, got string"),
          ("section_not_a_table.toml", "[echo] must be a table, got integer"),
          ("code_out_of_range.toml", "auth.denied_close_code must be a WebSocket close code"),
          ("unknown_template_field.toml", "echo.reply uses unknown field {msg}"),
          ("path_without_slash.toml", "echo.path must start with '/'"),
          ("not_utf8.toml", "cannot be read"),
          ("adir.toml", "cannot be read"),
      ]],
    pytest.param(["--wscheck-examples", "many"], ["--wscheck-examples", "'many'"],
                 id="examples-not-a-number"),
    pytest.param(["--wscheck-examples", "0"], ["--wscheck-examples must be at least 1"],
                 id="examples-zero"),
    pytest.param(["--wscheck-quiet-window", "-1"], ["--wscheck-quiet-window", "'-1'"],
                 id="quiet-window-negative"),
]


@pytest.mark.parametrize(("args", "fragments"), PYTEST_CASES)
def test_pytest_refuses_bad_input_in_one_line(
    pytester: pytest.Pytester, args: list[str], fragments: list[str]
) -> None:
    make_project(pytester.path)
    target = [] if any(a.startswith(("--wscheck-app", "--wscheck-url")) for a in args) \
        else ["--wscheck-app", "wsapps:app"]
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *target, *args)
    line = assert_one_line(result.ret, result.stdout.str(), result.stderr.str(), *fragments)
    assert line.startswith("ERROR: ")


def test_pytest_refuses_a_bad_ini_value_in_one_line(pytester: pytest.Pytester) -> None:
    make_project(pytester.path)
    pytester.path.joinpath("pytest.ini").write_text(
        "[pytest]\nwscheck_app = wsapps:app\nwscheck_timeout = soon\n", encoding="utf-8")
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio")
    assert_one_line(result.ret, result.stdout.str(), result.stderr.str(),
                    "wscheck_timeout (ini) must be a number of seconds, got 'soon'")


def test_pytest_refuses_a_missing_ca_bundle_in_one_line(pytester: pytest.Pytester) -> None:
    """The CA bundle is checked when the run starts, like every other setting, not when the
    first check opens a connection (which fails every check with a traceback)."""
    make_project(pytester.path)
    started = time.monotonic()
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio",
                                "--wscheck-url", "wss://127.0.0.1:9", "--wscheck-ca-file",
                                "no-such-ca.pem", "-x")
    assert time.monotonic() - started < 30
    assert_one_line(result.ret, result.stdout.str(), result.stderr.str(),
                    "no-such-ca.pem", "does not exist")


# --- through the wscheck command --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


#: What the command adds to pytest's route: its own flags, and the spec and serve commands.
#: (Each is a process that imports pytest and its plugins: the list is kept short.)
CLI_CASES: dict[str, tuple[list[str], list[str]]] = {
    "run-missing-attribute": (["run", "--app", "wsapps:nope"],
                              ["cannot find the app 'wsapps:nope'", "no attribute 'nope'"]),
    "run-not-an-app": (["run", "--app", "badapps:not_an_app"], ["is int, not an ASGI app"]),
    "run-http-url": (["run", "--url", "http://127.0.0.1:8000"], ["ws:// or wss://"]),
    "run-malformed-spec": (["run", "--spec", "malformed.toml"],
                           ["malformed.toml", "not valid TOML"]),
    "run-unknown-spec-key": (["run", "--spec", "unknown_key.toml"],
                             ["unknown_key.toml", "unknown key 'echo.replyy'"]),
    "run-mistyped-spec-key": (["run", "--spec", "code_as_string.toml"],
                              ["echo.bye_close_code must be an integer, got string"]),
    "run-missing-ca-file": (["run", "--url", "wss://127.0.0.1:9", "--ca-file", "nope.pem",
                             "--", "-x"], ["nope.pem", "does not exist"]),
    "run-unknown-option": (["run", "--bogus"],
                           ["unrecognized arguments: --bogus", "wscheck run -- -k echo"]),
    "run-pytest-option-before-dashes": (["run", "-k", "echo"],
                                        ["unrecognized arguments: -k echo", "after `--`"]),
    "run-app-and-url": (["run", "--app", "a:b", "--url", "ws://x"],
                        ["give either --app or --url, not both"]),
    "run-timeout-not-a-number": (["run", "--timeout", "abc"],
                                 ["--timeout must be a number of seconds, got 'abc'"]),
    "run-timeout-inf": (["run", "--timeout", "inf"],
                        ["--timeout must be more than 0 and at most 3600 seconds, got 'inf'"]),
    "run-timeout-negative": (["run", "--timeout", "-1"],
                             ["--timeout must be more than 0 and at most 3600 seconds, "
                              "got '-1'"]),
    "run-url-http": (["run", "--url", "http://x"],
                     ["--url must start with ws:// or wss://, got 'http://x'"]),
    "run-pytest-flag-after-dashes": (["run", "--", "--wscheck-timeout", "3"],
                                     ["give --timeout before `--`, not --wscheck-timeout"]),
    "no-command": ([], ["the following arguments are required: COMMAND"]),
    "spec-malformed": (["spec", "--spec", "malformed.toml"], ["not valid TOML"]),
    "serve-mistyped-spec": (["serve", "--spec", "farewells_as_string.toml", "--port", "9"],
                            ["echo.farewells must be an array of strings"]),
}

#: Bound on each ``wscheck`` process (they fail at start-up; a hang is a failure).
CLI_BOUND = 90.0


@pytest.fixture(scope="module")
def cli_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case of ``CLI_CASES`` run at once, each in its own copy of the project."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    running = {}
    for name, (args, _) in CLI_CASES.items():
        cwd = tmp_path_factory.mktemp(name)
        make_project(cwd)
        running[name] = subprocess.Popen(
            [sys.executable, "-m", "wscheck", *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    outcomes = {}
    deadline = time.monotonic() + CLI_BOUND
    for name, process in running.items():
        try:
            stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate(timeout=10)
            stderr += f"\n(killed after {CLI_BOUND:g} s)"
        outcomes[name] = Outcome(process.returncode, stdout, stderr)
    return outcomes


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_wscheck_refuses_bad_input_in_one_line(cli_outcomes: dict[str, Outcome],
                                               case: str) -> None:
    outcome = cli_outcomes[case]
    line = assert_one_line(outcome.returncode, outcome.stdout, outcome.stderr,
                           *CLI_CASES[case][1])
    if case.startswith("run-"):
        # `wscheck run` speaks of its own flags, never of the pytest flags it forwards to.
        assert "--wscheck-" not in line.replace("not --wscheck-timeout", ""), line
