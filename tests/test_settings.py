"""The settings table: one validation, in the words the user typed, for every interface.

Unit tests of :func:`wscheck.config.settings.resolve` come first (no pytest run); then the same
values through pytest's flags and ini keys (``pytester``), ini paths against the rootdir, the
README's table and the ``wscheck spec`` / ``wscheck checks`` output. The ``wscheck run``
route is in ``tests/test_bad_input.py`` (subprocesses), ``wscheck replay``'s in
``tests/test_replay.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.servers import make_test_ca
from wscheck.cli.main import catalogue, main
from wscheck.config.known import load_spec_and_known
from wscheck.config.settings import (
    LOAD_TABLE,
    TABLE,
    Given,
    Settings,
    flag_for,
    load_options,
    load_options_markdown,
    options_markdown,
    resolve,
    speak_as,
)
from wscheck.config.target import Runtime
from wscheck.core.spec import Spec
from wscheck.errors import SettingError
from wscheck.run.registry import SUITE

ROOT = Path(__file__).resolve().parent.parent
CHECK_IDS = [c.id for c in SUITE.all()]


def refused(tmp_path: Path, **given: Given) -> str:
    with pytest.raises(SettingError) as info:
        resolve(given, rootdir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- resolve: values and labels -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("abc", "must be a number of seconds, got 'abc'"),
        ("0", "must be more than 0 and at most 3600 seconds, got '0'"),
        ("-1", "must be more than 0 and at most 3600 seconds, got '-1'"),
        ("3600.5", "must be more than 0 and at most 3600 seconds, got '3600.5'"),
        ("nan", "must be more than 0 and at most 3600 seconds, got 'nan'"),
        ("inf", "must be more than 0 and at most 3600 seconds, got 'inf'"),
        ("-inf", "must be more than 0 and at most 3600 seconds, got '-inf'"),
        (-5, "must be more than 0 and at most 3600 seconds, got -5"),
        (True, "must be a number of seconds, got True"),
    ],
)
@pytest.mark.parametrize("name", ["timeout", "quiet_window"])
def test_durations_are_finite_and_in_range(tmp_path: Path, name: str, raw: object,
                                           problem: str) -> None:
    label = flag_for(name, "run")
    assert refused(tmp_path, **{name: Given(raw, label)}) == f"{label} {problem}"


def test_durations_at_the_bounds(tmp_path: Path) -> None:
    settings = resolve({"timeout": Given("3600", "--timeout"),
                        "quiet_window": Given(0.01, "x")}, rootdir=tmp_path)
    assert (settings.timeout, settings.quiet_window) == (3600.0, 0.01)


@pytest.mark.parametrize(("raw", "problem"), [("many", "must be a whole number, got 'many'"),
                                              ("1.5", "must be a whole number, got '1.5'"),
                                              ("0", "must be at least 1, got '0'")])
def test_examples(tmp_path: Path, raw: str, problem: str) -> None:
    assert refused(tmp_path, examples=Given(raw, "wscheck_examples (ini)")) == (
        f"wscheck_examples (ini) {problem}")


def test_examples_default_depends_on_the_target(tmp_path: Path) -> None:
    assert resolve({"app": Given("m:a", "--app")}, rootdir=tmp_path).examples == 100
    assert resolve({"url": Given("ws://127.0.0.1:1", "--url")}, rootdir=tmp_path).examples == 25


def test_one_target_names_both_flags_as_typed(tmp_path: Path) -> None:
    message = refused(tmp_path, app=Given("a:b", "--app"), url=Given("ws://x", "--url"))
    assert message == "give either --app or --url, not both (one target per run)"


@pytest.mark.parametrize("label", ["--url", "--wscheck-url", "wscheck_url (ini)"])
def test_a_bad_url_names_the_flag_typed(tmp_path: Path, label: str) -> None:
    message = refused(tmp_path, url=Given("http://x", label))
    assert message == f"{label} must start with ws:// or wss://, got 'http://x'"


def test_a_ca_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notpem.pem").write_text("not a certificate\n", encoding="utf-8")
    message = refused(tmp_path, ca_file=Given(str(tmp_path / "notpem.pem"), "--ca-file"))
    assert message.startswith(f"--ca-file '{tmp_path / 'notpem.pem'}' is not a PEM file of "
                              "CA certificates (")
    assert "does not exist" in refused(tmp_path, ca_file=Given("nope.pem", "--ca-file"))


def test_a_pem_ca_file_is_taken(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path)["ca"]
    settings = resolve({"url": Given("wss://127.0.0.1:1", "--url"),
                        "ca_file": Given("ca.pem", "wscheck_ca_file (ini)", tmp_path)},
                       rootdir=tmp_path)
    assert settings.ca_file == str(ca)


def test_switches_and_show_credentials(tmp_path: Path) -> None:
    assert Settings().show_credentials is False
    settings = resolve({"show_credentials": Given(True, "--show-credentials"),
                        "strict": Given(False, "--strict")}, rootdir=tmp_path)
    assert settings.show_credentials is True
    assert settings.strict is False


def test_an_unknown_known_failure_is_refused(tmp_path: Path) -> None:
    (tmp_path / "known.txt").write_text("echo.exact\necho.nope  # typo\n", encoding="utf-8")
    message = refused(tmp_path, xfail=Given("known.txt", "--xfail", tmp_path))
    assert "unknown check id 'echo.nope'" in message
    assert "`wscheck checks` lists the ids" in message


def test_every_interface_names_its_own_flags() -> None:
    for setting in TABLE:
        assert flag_for(setting.name, "pytest") == setting.pytest_flag
        assert flag_for(setting.name, "run") == (setting.cli_flag or setting.pytest_flag)
    message = "cannot reach x: fix --wscheck-url, or trust it with --wscheck-ca-file"
    assert speak_as(message, "run") == "cannot reach x: fix --url, or trust it with --ca-file"
    assert speak_as(message, "pytest") == message


def test_readme_options_table_is_the_settings_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert options_markdown() in readme, (
        "the README's options table differs from wscheck.config.settings.TABLE: paste "
        "`python -c 'from wscheck.config.settings import options_markdown as o; print(o())'`")


def test_load_docs_options_table_is_the_tables_load_rows() -> None:
    page = (ROOT / "docs" / "load.md").read_text(encoding="utf-8")
    assert load_options_markdown() in page, (
        "docs/load.md's options table differs from the settings table's rows for wscheck "
        "load: paste `python -c 'from wscheck.config.settings import load_options_markdown "
        "as o; print(o())'`")


def test_load_takes_the_shared_rows_and_its_own_under_one_name_each() -> None:
    names = [s.name for s in load_options()]
    assert len(names) == len(set(names))
    assert not {s.name for s in LOAD_TABLE} & {s.name for s in TABLE}
    assert {"url", "spec", "timeout", "quiet_window", "ca_file", "report"} <= set(names)
    assert "html" not in names and "locust_html" in names  # --html is wscheck's report


# --- through pytest: flags and ini keys ---------------------------------------------------


def one_error_line(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


@pytest.mark.parametrize(("args", "ini", "line"), [
    pytest.param(["--wscheck-timeout", "inf"], "",
                 "ERROR: --wscheck-timeout must be more than 0 and at most 3600 seconds, "
                 "got 'inf'", id="flag-inf"),
    pytest.param([], "wscheck_timeout = nan\n",
                 "ERROR: wscheck_timeout (ini) must be more than 0 and at most 3600 seconds, "
                 "got 'nan'", id="ini-nan"),
    pytest.param(["--wscheck-quiet-window=-1"], "wscheck_quiet_window = 5\n",
                 "ERROR: --wscheck-quiet-window must be more than 0 and at most 3600 seconds, "
                 "got '-1'", id="flag-wins-over-ini"),
    pytest.param([], "wscheck_url = http://x\n",
                 "ERROR: wscheck_url (ini) must start with ws:// or wss://, got 'http://x'",
                 id="ini-url"),
    pytest.param(["--wscheck-url", "ws://x"], "",
                 "ERROR: give either wscheck_app (ini) or --wscheck-url, not both (one "
                 "target per run)", id="ini-app-and-flag-url"),
])
def test_pytest_flags_and_ini_keys_are_named_as_typed(
    pytester: pytest.Pytester, args: list[str], ini: str, line: str
) -> None:
    app = "" if "wscheck_url" in ini else "wscheck_app = reference_app:app\n"
    pytester.path.joinpath("pytest.ini").write_text(f"[pytest]\n{app}{ini}", encoding="utf-8")
    assert one_error_line(run(pytester, *args)) == line


def test_a_ca_file_that_is_not_pem_is_one_line_at_configure(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("ca.pem").write_text("-----BEGIN NONSENSE-----\n", encoding="utf-8")
    line = one_error_line(run(pytester, "--wscheck-url", "wss://127.0.0.1:9",
                              "--wscheck-ca-file", "ca.pem"))
    assert line.startswith("ERROR: --wscheck-ca-file 'ca.pem' is not a PEM file of CA "
                           "certificates")


def test_ini_paths_resolve_against_the_rootdir(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every path in an ini key (spec, xfail, ca_file, report, html) is relative to the
    rootdir, wherever pytest is started from."""
    make_test_ca(pytester.path)
    pytester.path.joinpath("chat.toml").write_text(
        'expected_failures = []\n[echo]\nreply = "{message}"\n', encoding="utf-8")
    pytester.path.joinpath("known.txt").write_text("# nothing yet\n", encoding="utf-8")
    pytester.makepyfile(chatapp="""
        from reference_app import create_app
        from wscheck.core.spec import EchoSpec, Spec

        app = create_app(Spec(echo=EchoSpec(reply="{message}")))
    """)
    pytester.path.joinpath("pytest.ini").write_text(
        "[pytest]\nwscheck_app = chatapp:app\nwscheck_spec = chat.toml\n"
        "wscheck_xfail = known.txt\nwscheck_ca_file = ca.pem\n"
        "wscheck_report = out/run.json\nwscheck_html = out/run.html\n", encoding="utf-8")
    elsewhere = pytester.path / "sub" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    monkeypatch.syspath_prepend(str(pytester.path))
    result = run(pytester, "--rootdir", str(pytester.path), "-k", "echo.exact")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    report = json.loads((pytester.path / "out" / "run.json").read_text(encoding="utf-8"))
    assert (pytester.path / "out" / "run.html").is_file()
    assert not (elsewhere / "out").exists()
    assert report["settings"]["ca_file"] == str(pytester.path / "ca.pem")
    assert report["spec"]["data"]["echo"]["reply"] == "{message}"
    assert [c["verdict"] for c in report["checks"]] == ["pass"]


# --- runtime -------------------------------------------------------------------------------


def test_a_driver_that_fails_to_close_is_not_swallowed() -> None:
    """A bug in the kit propagates; it is never quietly dropped (nor turned into a verdict)."""
    from reference_app import app

    runtime = Runtime(Settings(app="reference_app:app"), app)
    runtime.ensure_up()
    assert runtime.driver is not None

    async def broken_aclose() -> None:
        raise RuntimeError("the driver could not close")

    runtime.driver.aclose = broken_aclose  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="could not close"):
        runtime.close()
    assert runtime._portal is None


# --- wscheck spec and wscheck checks --------------------------------------------------------


def test_spec_prints_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.wscheck]\nexpected_failures = ["echo.exact"]\n', encoding="utf-8")
    assert main(["spec"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('expected_failures = ["echo.exact"]')
    for key in ("[echo]", "[auth]", "[echo.path_params]", "[auth.path_params]"):
        assert key in out
    assert out.count("enabled = true") == 2
    (tmp_path / "printed.toml").write_text(out, encoding="utf-8")
    assert load_spec_and_known(tmp_path / "printed.toml") == (Spec(), ("echo.exact",))


def test_checks_prints_columns_for_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    assert "|" not in out
    assert "a test keeps" not in out
    rows = [line.split()[0] for line in out.splitlines()[1:] if re.match(r"\S+\s+(MUST|SHOULD)",
                                                                        line)]
    assert rows == CHECK_IDS
    assert main(["checks", "--markdown"]) == 0
    assert capsys.readouterr().out == catalogue()
