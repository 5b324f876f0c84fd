"""Hostile files and paths: whatever the user (or a shared artifact) names, the kit answers
with one line and exit status 4, writes nothing, and never hangs or runs out of memory.

Each hostile file is built here in ``tmp_path``: ``/dev/zero``, a FIFO, a directory, a file
over the size bound, TOML with 50 000 dotted key parts or nested 5 000 deep; spec values that
would only fail at connect time; URLs with ``%00`` or a password; report paths that are not
regular files. The bounds themselves are :mod:`wscheck.core.limits`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import apps
from tests.test_bad_input import assert_one_line
from wscheck.config.known import load_spec_and_known, read_xfail_file
from wscheck.core.limits import (
    MAX_INPUT_FILE_BYTES,
    MAX_NESTING,
    MAX_TOML_KEY_PARTS,
    check_report_path,
    toml_shape_problem,
)
from wscheck.core.spec import load_spec
from wscheck.errors import SettingError, SpecError
from wscheck.reporting.json_report import write_reports
from wscheck.run.registry import SUITE

SUITE.all()  # one check registry for every inner pytest run
APPS_SOURCE = Path(apps.__file__).read_text(encoding="utf-8")

#: Bound on a subprocess run that could hang if a FIFO were opened for reading.
SUBPROCESS_BOUND = 120.0


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.toml"
    os.mkfifo(path)
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "dir.toml"
    path.mkdir()
    return path


def _too_large(tmp_path: Path) -> Path:
    path = tmp_path / "large.toml"
    path.write_text("# padding\n" * (MAX_INPUT_FILE_BYTES // 10 + 1), encoding="utf-8")
    return path


def _dotted(tmp_path: Path) -> Path:
    """About 100 KB: one key of 50 000 parts (gigabytes in the TOML parser)."""
    path = tmp_path / "dotted.toml"
    path.write_text(".".join(["a"] * 50_000) + " = 1\n", encoding="utf-8")
    return path


def _nested_arrays(tmp_path: Path) -> Path:
    path = tmp_path / "nested.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    return path


def _nested_tables(tmp_path: Path) -> Path:
    path = tmp_path / "nested_tables.toml"
    path.write_text("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n", encoding="utf-8")
    return path


def _dev_zero(tmp_path: Path) -> Path:
    if not Path("/dev/zero").exists():  # pragma: no cover - every POSIX system has it
        pytest.skip("no /dev/zero here")
    return Path("/dev/zero")


HOSTILE_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "dev-zero": (_dev_zero, "it is a character device, not a regular file"),
    "fifo": (_fifo, "it is a FIFO, not a regular file"),
    "directory": (_directory, "it is a directory, not a regular file"),
    "too-large": (_too_large, f"the limit is {MAX_INPUT_FILE_BYTES}"),
    "dotted-keys": (_dotted, f"a dotted key has more than {MAX_TOML_KEY_PARTS} parts"),
    "nested-arrays": (_nested_arrays, f"nest more than {MAX_NESTING} deep"),
    "nested-tables": (_nested_tables, f"nest more than {MAX_NESTING} deep"),
}
#: The ones that are hostile as files, not as TOML: the known-failures list refuses them too.
FILE_KINDS = ["dev-zero", "fifo", "directory", "too-large"]


@pytest.mark.parametrize("kind", list(HOSTILE_FILES))
def test_spec_loading_refuses_hostile_files(tmp_path: Path, kind: str) -> None:
    make, fragment = HOSTILE_FILES[kind]
    path = make(tmp_path)
    for load in (load_spec, load_spec_and_known):
        with pytest.raises(SpecError) as info:
            load(path)
        message = str(info.value)
        assert "\n" not in message
        assert str(path) in message and fragment in message, message


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_known_failures_file_refuses_hostile_files(tmp_path: Path, kind: str) -> None:
    make, fragment = HOSTILE_FILES[kind]
    path = make(tmp_path)
    with pytest.raises(SpecError, match="known-failures file") as info:
        read_xfail_file(path)
    assert fragment in str(info.value)


def test_known_failures_file_refuses_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "xfail.txt"
    path.write_text("echo.exact\necho.whitespace\x1b[2J\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"line 2 holds a control character") as info:
        read_xfail_file(path)
    assert "\x1b" not in str(info.value)


def test_the_shape_check_leaves_ordinary_toml_alone() -> None:
    """Dots and brackets inside strings and comments, floats, dates and ordinary tables are
    what real spec files and ``pyproject.toml`` hold; none of them is refused."""
    ordinary = "\n".join([
        '[project]',
        'name = "x"',
        'description = "' + ". " * 500 + '"',
        "urls = { home = 'https://a.b.c.d.e.f.g.h.example/[x]{y}' }",
        '# a comment with ' + "." * 200 + " [[[[ {{{{",
        '[tool.ruff.lint.per-file-ignores]',
        '"tests/*.py" = ["S101"]',
        'floats = [' + ", ".join(["1.5"] * 300) + ']',
        'when = 1979-05-27T07:32:00.999999Z',
        'multi = """',
        '  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ ' + "a." * 100,
        '"""',
        "literal = '''" + "{" * 100 + "'''",
        'escaped = "a\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["',
        '[tool.wscheck.echo.path_params]',
        'room = "lobby"',
        'a."b.c.d".e = 1',
    ])
    assert toml_shape_problem(ordinary) is None
    import tomllib

    tomllib.loads(ordinary)  # and it is valid TOML
    assert toml_shape_problem("a = " + "[" * (MAX_NESTING + 1)) is not None
    assert toml_shape_problem("a = " + "[" * MAX_NESTING + "]" * MAX_NESTING) is None
    assert toml_shape_problem(".".join(["k"] * (MAX_TOML_KEY_PARTS + 1)) + " = 1") is not None
    assert toml_shape_problem(".".join(["k"] * MAX_TOML_KEY_PARTS) + " = 1") is None


# --- spec values that used to fail only at connect time ------------------------------------

BAD_NAMES = {
    "path-question-mark": ('[echo]\npath = "/ws?x=1"\n', "echo.path"),
    "path-hash": ('[echo]\npath = "/ws#frag"\n', "echo.path"),
    "path-nul": ('[echo]\npath = "/w\\u0000s"\n', "echo.path"),
    "path-param-question-mark": (
        '[auth]\npath = "/item/{room}"\n[auth.path_params]\nroom = "a?b"\n', "auth.path"),
    "cookie-with-separators": ('[auth]\ncookie = "a=b; c"\n', "auth.cookie"),
    "cookie-empty": ('[auth]\ncookie = ""\n', "auth.cookie"),
    "token-with-ampersand": ('[auth]\ntoken = "a&b"\n', "auth.token"),
    "q-with-control": ('[auth]\nq = "q\\u001b"\n', "auth.q"),
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_spec_refuses_names_that_cannot_be_sent(tmp_path: Path, case: str) -> None:
    content, key = BAD_NAMES[case]
    path = tmp_path / "spec.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key} "), message
    assert "\n" not in message and "\x00" not in message and "\x1b" not in message


# --- through pytest and the wscheck command: exit 4, one line, nothing written ---------------


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(wsapps=APPS_SOURCE)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", *args)


@pytest.mark.parametrize(
    ("flag", "kind"),
    [("--wscheck-spec", kind) for kind in ("dev-zero", "directory", "dotted-keys",
                                           "nested-arrays")]
    + [("--wscheck-xfail", kind) for kind in ("dev-zero", "directory", "too-large")],
)
def test_pytest_refuses_hostile_files_in_one_line(project: pytest.Pytester, flag: str,
                                                  kind: str) -> None:
    make, fragment = HOSTILE_FILES[kind]
    path = make(project.path)
    result = run(project, "--wscheck-app", "wsapps:app", flag, str(path),
                 "--wscheck-report", "out.json")
    assert_one_line(result.ret, result.stdout.str(), result.stderr.str(), fragment)
    assert not (project.path / "out.json").exists()


def test_a_fifo_as_spec_does_not_block(tmp_path: Path) -> None:
    """A FIFO with no writer blocks a plain ``open``: the run must refuse it at once. Run as a
    subprocess with a deadline, so that a regression fails instead of hanging the suite."""
    (tmp_path / "wsapps.py").write_text(APPS_SOURCE, encoding="utf-8")
    fifo = _fifo(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    for args in (["--spec", str(fifo)], ["--xfail", str(fifo)]):
        ran = subprocess.run(
            [sys.executable, "-m", "wscheck", "run", "--app", "wsapps:app", *args,
             "--report", "out.json"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SUBPROCESS_BOUND,
            stdin=subprocess.DEVNULL)
        assert_one_line(ran.returncode, ran.stdout, ran.stderr, "it is a FIFO")
        assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ws://127.0.0.1:9/a%00b", "control character"),
        ("ws://127.0.0.1:9/a%1bb", "control character"),
        ("ws://user:hunter2-secret@127.0.0.1:9", "must not carry user:password@"),
    ],
    ids=["percent-nul", "percent-escape", "userinfo"],
)
def test_pytest_refuses_hostile_urls_in_one_line(project: pytest.Pytester, url: str,
                                                 fragment: str) -> None:
    result = run(project, "--wscheck-url", url, "--wscheck-report", "out.json")
    line = assert_one_line(result.ret, result.stdout.str(), result.stderr.str(), fragment)
    assert "hunter2-secret" not in line
    assert not (project.path / "out.json").exists()


# --- report paths ----------------------------------------------------------------------------

def _report_path(tmp_path: Path, kind: str) -> Path:
    if kind == "symlink":
        victim = tmp_path / "victim.txt"
        victim.write_text("precious\n", encoding="utf-8")
        (tmp_path / "link.json").symlink_to(victim)
        return tmp_path / "link.json"
    if kind == "dangling-symlink":
        (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
        return tmp_path / "dangling.json"
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo.json")
        return tmp_path / "fifo.json"
    if kind == "device":
        return Path("/dev/null")
    (tmp_path / "dir.json").mkdir()
    return tmp_path / "dir.json"


REPORT_PATH_KINDS = {"symlink": "a symbolic link", "dangling-symlink": "a symbolic link",
                     "fifo": "a FIFO", "device": "a device", "directory": "a directory"}


@pytest.mark.parametrize("kind", list(REPORT_PATH_KINDS))
@pytest.mark.parametrize("flag", ["--wscheck-report", "--wscheck-html"])
def test_report_paths_that_are_not_regular_files_are_refused(
    project: pytest.Pytester, kind: str, flag: str
) -> None:
    path = _report_path(project.path, kind)
    before = sorted(os.listdir(project.path))
    result = run(project, "--wscheck-app", "wsapps:app", flag, str(path), "-k", "echo.exact")
    assert_one_line(result.ret, result.stdout.str(), result.stderr.str(), flag,
                    REPORT_PATH_KINDS[kind])
    assert sorted(os.listdir(project.path)) == before  # nothing replaced, no temp file
    if kind == "symlink":
        assert path.is_symlink()
        assert (project.path / "victim.txt").read_text(encoding="utf-8") == "precious\n"
    if kind == "device":
        assert path.is_char_device()


def test_the_writer_checks_again_and_leaves_no_temp_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A path that turns into a directory after the run started, and a rename that fails:
    an error either way, and the directory holds exactly what it held before."""
    report = {"format": "wscheck-report/1", "checks": []}
    (tmp_path / "late.json").mkdir()
    with pytest.raises(SettingError, match="is a directory"):
        write_reports(report, str(tmp_path / "late.json"), None)
    assert sorted(os.listdir(tmp_path)) == ["late.json"]

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        write_reports(report, str(tmp_path / "run.json"), None)
    assert sorted(os.listdir(tmp_path)) == ["late.json"]
    monkeypatch.undo()

    written = write_reports(report, str(tmp_path / "run.json"), str(tmp_path / "run.html"))
    assert written == [str(tmp_path / "run.json"), str(tmp_path / "run.html")]
    assert sorted(os.listdir(tmp_path)) == ["late.json", "run.html", "run.json"]
    mode = (tmp_path / "run.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # as any file the user creates, not the temp file's 0600
    check_report_path(str(tmp_path / "run.json"), "--wscheck-report")  # a file: fine


# --- the guide lists every bound ---------------------------------------------------------------


def test_the_guide_lists_every_bound_with_its_value() -> None:
    """docs/guide.md "Limits and safety" names each bound and its current value, so the two
    cannot drift apart."""
    from wscheck.core import limits
    from wscheck.reporting import replay

    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text(
        encoding="utf-8")
    section = guide.split("## 7. Limits and safety", 1)[1]
    from wscheck.drivers import _appside, _watchdog, _wire, base, url
    from wscheck.run import conversation as runner

    bounds = {name: getattr(limits, name) for name in limits.__all__ if name.isupper()}
    bounds["MAX_REPORT_TIMEOUT"] = replay.MAX_REPORT_TIMEOUT
    # The drivers' bounds against hostile targets.
    bounds |= {"MAX_MESSAGE_SIZE": base.MAX_MESSAGE_SIZE,
               "HANDSHAKE_FACTOR": url.HANDSHAKE_FACTOR, "RECEIVE_FACTOR": _wire.RECEIVE_FACTOR,
               "READ_HIGH_WATER": _wire.READ_HIGH_WATER,
               "MAX_UNREAD_MESSAGES": _appside.MAX_UNREAD_MESSAGES,
               "MAX_UNREAD_BYTES": _appside.MAX_UNREAD_BYTES,
               "FLOOD_FACTOR": base.FLOOD_FACTOR, "FLOOD_SLACK": base.FLOOD_SLACK,
               "MAX_EXTRA_BYTES": runner.MAX_EXTRA_BYTES,
               "STALL_FACTOR": _watchdog.STALL_FACTOR, "MIN_STALL": _watchdog.MIN_STALL,
               "LAST_WORDS_BOUND": _watchdog.LAST_WORDS_BOUND}
    for name, value in bounds.items():
        row = next((line for line in section.splitlines() if line.startswith(f"| `{name}` |")),
                   None)
        assert row is not None, f"{name} is not in the guide's table"
        shown = str(int(value)) if float(value).is_integer() else str(value)
        assert f"| {shown} " in row, (name, value, row)
