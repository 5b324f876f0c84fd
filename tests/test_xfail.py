"""Known failures: ``expected_failures`` in the spec, ``[tool.wscheck]`` or ``--wscheck-xfail``.

A listed check that fails reports xfail and the run passes; a listed check that passes is an
XPASS and fails the run (strict), so a list cannot outlive the bugs it names; an id that names
no check is a one-line usage error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import apps
from wscheck.cli.main import main
from wscheck.run.registry import SUITE

SUITE.all()  # one check registry for the inner runs (see test_plugin.py)
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")

#: What the trimming app fails, among a few checks it passes.
SELECTION = "echo.exact or echo.whitespace or echo.newlines or bye.exact-word or auth.token"
FAILS = ["echo.whitespace", "echo.newlines", "bye.exact-word"]


@pytest.fixture
def kit(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(wsapps=APPS_SOURCE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-rxXfE", *args)


def toml_list(ids: list[str]) -> str:
    return "expected_failures = [" + ", ".join(f'"{i}"' for i in ids) + "]\n"


def usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_listed_failures_are_xfail_and_the_run_passes(kit: pytest.Pytester) -> None:
    kit.path.joinpath("spec.toml").write_text(toml_list(FAILS), encoding="utf-8")
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-spec", "spec.toml",
                 "-k", SELECTION)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2, xfailed=3)
    result.stdout.fnmatch_lines([
        "2 MUST pass, 3 MUST xfail",
        "XFAIL echo.whitespace [[]MUST[]]: whitespace was trimmed or changed",
        "XFAIL wscheck::echo.whitespace - known failure (listed in expected_failures of "
        "*spec.toml)",
    ])


def test_a_listed_check_that_passes_fails_the_run(kit: pytest.Pytester) -> None:
    kit.path.joinpath("spec.toml").write_text(toml_list([*FAILS, "echo.exact"]),
                                              encoding="utf-8")
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-spec", "spec.toml",
                 "-k", SELECTION)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, xfailed=3, failed=1)
    result.stdout.fnmatch_lines([
        "XPASS echo.exact [[]MUST[]]: passes, but is listed as a known failure in *: take it off "
        "the list",
        "*wscheck::echo.exact*XPASS(strict)*known failure*",
    ])


def test_an_unlisted_failure_still_fails(kit: pytest.Pytester) -> None:
    kit.path.joinpath("spec.toml").write_text(toml_list(FAILS[:1]), encoding="utf-8")
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-spec", "spec.toml",
                 "-k", SELECTION)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2, xfailed=1, failed=2)


def test_xfail_file_and_tool_wscheck(kit: pytest.Pytester) -> None:
    kit.path.joinpath("known.txt").write_text(
        "# the trimming bug, issue 12\necho.whitespace\n\n  echo.newlines  # same bug\n",
        encoding="utf-8")
    kit.makepyprojecttoml('[tool.wscheck]\nexpected_failures = ["bye.exact-word"]\n')
    result = run(kit, "--wscheck-app", "wsapps:stripping_app", "--wscheck-xfail", "known.txt",
                 "-k", SELECTION)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2, xfailed=3)
    result.stdout.fnmatch_lines([
        "XFAIL wscheck::echo.newlines - known failure (listed in *known.txt)",
        "XFAIL wscheck::bye.exact-word - known failure (listed in expected_failures of "
        "*pyproject.toml [[]tool.wscheck[]])",
    ])


def test_a_listed_should_failure_is_xfail_too(kit: pytest.Pytester) -> None:
    kit.path.joinpath("known.txt").write_text("robust.binary\n", encoding="utf-8")
    result = run(kit, "--wscheck-app", "wsapps:wrong_binary_app", "--wscheck-xfail",
                 "known.txt", "-k", "robust.binary")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(xfailed=1)


@pytest.mark.parametrize(
    ("files", "args", "fragments"),
    [
        ({"spec.toml": toml_list(["echo.exactly"])}, ["--wscheck-spec", "spec.toml"],
         ["unknown check id 'echo.exactly'", "expected_failures of", "spec.toml",
          "`wscheck checks`"]),
        ({"known.txt": "echo.exact\nbye.sequnce\n"}, ["--wscheck-xfail", "known.txt"],
         ["unknown check id 'bye.sequnce'", "known.txt"]),
        ({}, ["--wscheck-xfail", "missing.txt"], ["missing.txt does not exist"]),
        ({"spec.toml": 'expected_failures = "echo.exact"\n'}, ["--wscheck-spec", "spec.toml"],
         ["expected_failures must be an array of check ids"]),
    ],
    ids=["unknown-in-spec", "unknown-in-file", "missing-file", "not-a-list"],
)
def test_bad_known_failures_are_a_one_line_usage_error(
    kit: pytest.Pytester, files: dict[str, str], args: list[str], fragments: list[str]
) -> None:
    for name, text in files.items():
        kit.path.joinpath(name).write_text(text, encoding="utf-8")
    line = usage_error(run(kit, "--wscheck-app", "wsapps:app", *args))
    assert line.startswith("ERROR: ")
    for fragment in fragments:
        assert fragment in line


def test_the_spec_command_reads_a_spec_with_known_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(toml_list(["echo.exact"]) + '[echo]\nbye = "quit"\n', encoding="utf-8")
    assert main(["spec", "--spec", str(spec)]) == 0
    out = capsys.readouterr().out
    assert 'bye = "quit"' in out
    assert out.startswith('expected_failures = ["echo.exact"]')  # printed with every key
