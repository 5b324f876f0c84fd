"""Documentation generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

from wscheck.cli.main import catalogue
from wscheck.run.registry import SUITE

ROOT = Path(__file__).resolve().parent.parent


def test_check_catalogue_is_current() -> None:
    on_disk = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    assert on_disk == catalogue(), (
        "docs/checks.md is stale: run `wscheck checks --markdown > docs/checks.md`")


def test_catalogue_lists_every_check_once() -> None:
    text = catalogue()
    for check in SUITE.all():
        assert text.count(f"| `{check.id}` |") == 1, check.id


def test_check_ids_are_stable_and_well_formed() -> None:
    ids = [c.id for c in SUITE.all()]
    assert len(ids) == len(set(ids))
    for check_id in ids:
        area, _, name = check_id.partition(".")
        assert area in {"echo", "bye", "isolation", "auth", "broadcast", "robust", "prop"}, check_id
        assert name and name == name.lower() and " " not in name, check_id


def test_readme_fixture_example_runs(pytester) -> None:  # type: ignore[no-untyped-def]
    """The README's "write your own checks" example works as printed."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"### Write your own checks.*?```python\n(.*?)```", readme, re.S)
    assert match, "the README lost its fixture example"
    pytester.makepyfile(test_mine=match.group(1))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess(
        "--wscheck-app", "reference_app:app", "--wscheck-no-suite", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


#: Every document a reader might copy an install line from.
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
        *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*")
                if p.is_file() and p.suffix in {".md", ".py", ".toml", ".txt", ".sh"})]


def pip_install_targets(text: str) -> list[str]:
    """What each ``pip install`` command in ``text`` installs: its non-option arguments, up to
    the end of the line or of the shell command, quotes removed."""
    import re
    import shlex

    targets = []
    for match in re.finditer(r"pip3? install\b([^\n`;|&#]*)", text):
        for word in shlex.split(match.group(1)):
            if not word.startswith("-"):
                targets.append(word)
    return targets


def requirement_name(target: str) -> str:
    """The distribution a pip argument names: ``pytest-wscheck[x]>=1`` -> ``pytest-wscheck``."""
    import re

    return re.split(r"[\[<>=!~ ;@]", target, maxsplit=1)[0].lower().replace("_", "-")


def test_pip_install_targets_are_read_as_pip_reads_them() -> None:
    text = "x `pip install -e '.[test]' && y` pip install -U wscheck==1.0\n- run: pip install a b"
    assert pip_install_targets(text) == [".[test]", "wscheck==1.0", "a", "b"]
    assert [requirement_name(t) for t in pip_install_targets(text)] == [
        ".", "wscheck", "a", "b"]


def test_no_document_installs_the_unrelated_wscheck_package() -> None:
    """On PyPI, ``wscheck`` is another project (a whitespace checker): the kit is distributed
    as ``pytest-wscheck``, and every install line in the docs says so."""
    offenders = []
    installs_the_kit = 0
    for name in DOCS:
        for target in pip_install_targets((ROOT / name).read_text(encoding="utf-8")):
            if requirement_name(target) == "wscheck":
                offenders.append(f"{name}: pip install {target}")
            installs_the_kit += requirement_name(target) in {"pytest-wscheck", "."}
    assert offenders == []
    assert installs_the_kit, "no document says how to install the kit"


def test_the_distribution_is_pytest_wscheck_and_keeps_the_wscheck_names() -> None:
    """The installed metadata: the distribution's name, the ``wscheck`` command and the
    ``wscheck`` pytest plugin."""
    from importlib.metadata import distribution

    dist = distribution("pytest-wscheck")
    points = {(e.group, e.name): e.value for e in dist.entry_points}
    assert points[("console_scripts", "wscheck")] == "wscheck.cli.main:main"
    assert points[("pytest11", "wscheck")] == "wscheck.pytest.plugin"


def test_ci_runs_the_readmes_test_command() -> None:
    """The README's test command is ``scripts/test`` (the everyday tier), and CI runs exactly
    that (with ``CI=true``), then the slow tier: every test runs on every push, and a
    newcomer's command is CI's first step."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "```sh\nscripts/test\n```" in readme
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line and not line.startswith("#")]
    assert ci[-2:] == ['scripts/test "$@"', 'exec scripts/test --slow "$@"']
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert 'python -m pytest --durations=25 "$@"' in script
    assert 'python -m pytest -m slow --durations=25 "$@"' in script


def test_guide_asyncapi_example_runs(tmp_path: Path) -> None:
    """The guide's "Test an API from its AsyncAPI document" example works as printed: the
    document and the app, verbatim, pass `wscheck run`."""
    import os
    import re
    import subprocess
    import sys

    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    section = guide.split("## 8. Test an API from its AsyncAPI document", 1)[1]
    document = re.search(r"```yaml\n(# adder\.yaml\n.*?)```", section, re.S)
    app = re.search(r"```python\n(# adder\.py\n.*?)```", section, re.S)
    command = re.search(r"```sh\n(wscheck run .*?)\n```", section, re.S)
    assert document and app and command, "the guide lost its AsyncAPI example"
    (tmp_path / "adder.yaml").write_text(document.group(1), encoding="utf-8")
    (tmp_path / "adder.py").write_text(app.group(1), encoding="utf-8")
    words = command.group(1).split()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-m", "wscheck", *words[1:], "--examples", "10",
                             "--", "-v", "-p", "no:cacheprovider"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for check_id in ("asyncapi.add.reply", "asyncapi.add.schema", "asyncapi.add.prop",
                     "asyncapi.sayWelcome.schema", "asyncapi.stateful"):
        assert f"wscheck::{check_id} PASSED" in output, output[-3000:]
