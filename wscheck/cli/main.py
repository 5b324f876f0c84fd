"""The ``wscheck`` command: ``run`` the suite, ``replay`` a failure from a report, ``serve``
the reference app, print the ``spec`` (TOML or AsyncAPI) or the ``checks``.

``wscheck run`` is pytest with the bundled suite alone: it runs from an empty scratch
directory, so the user's own tests and pytest settings are not collected, while the current
directory stays importable for ``--app`` and its ``[tool.wscheck]`` still applies. Its
options come from :data:`wscheck.config.settings.TABLE`. Every usage error ends here as one
line on stderr and exit status 4 (:func:`wscheck.errors.exit_status`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from wscheck.config.settings import BY_NAME, TABLE, Given, resolve
from wscheck.core.spec import Spec
from wscheck.errors import SettingError, UsageError, exit_status

if TYPE_CHECKING:
    from wscheck.run.registry import Check

__all__ = ["catalogue", "main", "terminal_catalogue"]

REFERENCE_APP = "reference_app:app"
COMMANDS = ("run", "replay", "serve", "spec", "checks", "load")


class _Parser(argparse.ArgumentParser):
    """argparse that raises a usage error (one line, exit 4) instead of printing its usage
    and exiting with 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (`{self.prog} --help` lists the options)")


def _unrecognized(command: str | None, extra: list[str]) -> UsageError:
    """Arguments no option takes, with the hint that fits the command."""
    message = f"unrecognized arguments: {' '.join(extra)}"
    if command == "run":
        return UsageError(f"{message} (pytest's own options go after `--`, as in "
                          "`wscheck run -- -k echo`; `wscheck run --help` lists wscheck's)")
    return UsageError(f"{message} (`wscheck {command or ''} --help` lists the options)"
                      .replace("  ", " "))


RUN_DESCRIPTION = (
    "Run the conformance suite through pytest. Arguments after `--` go to pytest as they "
    "are, e.g. `wscheck run --app mypkg.main:app -- -k echo -v -n 2`. Exit status: 0 every "
    "MUST check passed (or cannot be observed through this target kind), 1 a check failed or "
    "a MUST check was inconclusive, 4 bad options (one line on stderr).")
REPLAY_DESCRIPTION = (
    "Run the conversation a check failed on (from a report written with --report / "
    "--wscheck-report) against the target again and print the expected and observed "
    "transcripts side by side. Exit status: 0 it now conforms, 1 it still fails, 4 bad "
    "arguments.")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wscheck",
                     description="Conformance test kit for the WebSocket chat protocol.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run_options(sub.add_parser(
        "run", help="run the conformance suite (default target: the bundled reference app)",
        usage="%(prog)s [options] [-- PYTEST_ARGS ...]", description=RUN_DESCRIPTION))
    _replay_options(sub.add_parser(
        "replay", help="run a failing check's conversation from a JSON report again",
        description=REPLAY_DESCRIPTION))
    serve = sub.add_parser("serve", help="serve the reference app with uvicorn",
                           description="Serve the bundled reference app (the executable spec).")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--spec", metavar="FILE.toml", help="serve the reference for this spec")
    serve.add_argument("--max-message-size", type=int, default=1024 * 1024, metavar="BYTES",
                       help="larger messages get a close with 1009 (default: %(default)s)")

    spec = sub.add_parser("spec", help="print the effective spec as TOML, every key (or "
                                       "AsyncAPI 3.0)")
    spec.add_argument("--spec", metavar="FILE.toml", help="spec file to read (default: "
                      "[tool.wscheck] in ./pyproject.toml, else the reference protocol)")
    spec.add_argument("--asyncapi", action="store_true",
                      help="print the protocol as an AsyncAPI 3.0 document (JSON) instead")

    checks = sub.add_parser("checks", help="list the checks: id, level, protocol line, what "
                                           "each checks")
    checks.add_argument("--markdown", action="store_true",
                        help="print the catalogue as Markdown (docs/checks.md is this; with "
                             "--suite rfc6455, the cases table of docs/rfc6455.md)")
    checks.add_argument("--suite", type=_suite_choice, default="chat",
                        metavar="chat|rfc6455|all", help="which bundled suite (default chat)")
    checks.add_argument("--spec", metavar="FILE",
                        help="list the checks of this spec too: an AsyncAPI document's are "
                             "named after its operations")
    sub.add_parser("load", help="conformance under load, on Locust (wscheck load --help)",
                   add_help=False)
    return parser


def _run_options(run: argparse.ArgumentParser) -> None:
    """``wscheck run``: one option per row of the settings table that it offers."""
    for setting in TABLE:
        if setting.cli_flag is None:
            continue
        if setting.switch:
            run.add_argument(setting.cli_flag, dest=setting.name, action="store_true",
                             help=setting.help)
        else:
            run.add_argument(setting.cli_flag, dest=setting.name, metavar=setting.metavar,
                             help=setting.help)


def _replay_options(replay: argparse.ArgumentParser) -> None:
    """``wscheck replay``: the report, the check, and the settings a replay may override."""
    replay.add_argument("report", metavar="REPORT.json")
    replay.add_argument("check_id", metavar="CHECK_ID")
    replay.add_argument("--url", metavar="ws://HOST:PORT",
                        help="replay against this server (default: the report's target)")
    replay.add_argument("--app", metavar="MODULE:ATTR",
                        help="replay against this ASGI app in-process")
    for name in ("timeout", "ca_file"):
        setting = BY_NAME[name]
        assert setting.cli_flag is not None
        replay.add_argument(setting.cli_flag, dest=name, metavar=setting.metavar,
                            help=f"{setting.help}; default: the report's")


def catalogue() -> str:
    """The check catalogue as a Markdown table: ``docs/checks.md`` is this, verbatim."""
    from wscheck.run.registry import SUITE

    lines = [
        "# Check catalogue",
        "",
        "Generated by `wscheck checks --markdown` from the check definitions; a test keeps "
        "this file equal to its output.",
        "MUST failures fail the run; SHOULD failures are warnings unless `--wscheck-strict`.",
        "The protocol line refers to [the protocol](protocol.md): endpoint and item number.",
        "The precondition is what a check assumes before it can judge its line; when it "
        "fails, the check is inconclusive (see [Verdicts](#verdicts)), never passed.",
        "",
        "| id | level | protocol line | description | precondition |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in SUITE.all():
        description = c.description.replace("|", "\\|")
        precondition = c.precondition.replace("|", "\\|")
        lines.append(f"| `{c.id}` | {c.level} | {c.line} | {description} | {precondition} |")
    lines += ["", "An AsyncAPI 3.0 document given as the spec has checks of its own, named after "
              "its operations (`asyncapi.<operationId>.reply`, `.schema`, `.unsolicited`, "
              "`.isolation`, `.prop`, and `asyncapi.stateful`): see [the guide]"
              "(guide.md#8-test-an-api-from-its-asyncapi-document); `wscheck checks --spec "
              "FILE` lists them.", "", *VERDICT_VOCABULARY]
    return "\n".join(lines) + "\n"


#: What each verdict means and how it counts: the end of docs/checks.md.
VERDICT_VOCABULARY = (
    "## Verdicts",
    "",
    "A pass means *observed conforming*: the check saw its line of the protocol happen.",
    "",
    "| verdict | meaning | exit status |",
    "| --- | --- | --- |",
    "| pass | the check observed the target doing what its line says | 0 |",
    "| fail | it observed something else (MUST, or SHOULD under `--wscheck-strict`) | 1 |",
    "| warn | a SHOULD check failed, not strict | 0 |",
    "| inconclusive (precondition failed) | what the check judges never happened: the "
    "endpoint refused every client (the check owning the handshake, `echo.accept` or "
    "`auth.token`, fails and says why, once), a valid credential was refused, the bye word was "
    "never recognised (`bye.close-code`, `bye.nothing-after`), a client was not served "
    "(`isolation.concurrent`). Never counted as a pass | 1 for a MUST check (for a SHOULD "
    "check under strict), even when nothing failed |",
    "| inconclusive (cannot be observed) | the behaviour cannot be seen through this target "
    "kind: over the network, `robust.disconnect` cannot see the server's exceptions or log. "
    "Counted and shown, never a pass | 0 (the count is shown; check the server's log, or run "
    "in-process) |",
    "| not applicable | the spec has no such endpoint or bye word | 0 |",
    "",
    "In JUnit XML an inconclusive check is *skipped* with its reason; in the JSON and HTML "
    "reports its verdict is `inconclusive`, with `inconclusive` (the reason) and "
    "`unconcluded` (`precondition` or `unobservable`).",
)


def _suite_choice(raw: str) -> str:
    from wscheck.config.values import suite_name

    try:
        return suite_name(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rfc6455_catalogue() -> str:
    """The rfc6455 suite's cases as a Markdown table: the cases table of docs/rfc6455.md."""
    from wscheck.run.registry import RFC6455

    lines = ["| case | level | cites | what the server must do |", "| --- | --- | --- | --- |"]
    for c in RFC6455.all():
        lines.append(f"| `{c.id}` | {c.level} | {c.line} | "
                     f"{c.description.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


def terminal_catalogue(width: int | None = None, suite: str = "chat",
                       spec: Spec | None = None) -> str:
    """The checks as aligned columns for a terminal, descriptions wrapped to its width; with
    a spec, those it applies to, its own included (an AsyncAPI document's)."""
    from wscheck.run.registry import suite_checks

    checks = suite_checks(suite, spec)
    if spec is not None:
        checks = [c for c in checks if not c.not_applicable(spec)]
    return _columns(checks, width)


def _api_summary(spec: Spec) -> str:
    """What ``wscheck spec`` prints for an AsyncAPI document: the API as the kit reads it."""
    from wscheck.run.registry import SUITE

    api = spec.api
    assert api is not None
    lines = [f"# {api.title or 'AsyncAPI document'}: the WebSocket API as wscheck reads it "
             f"(spec {spec.digest()})"]
    for i, endpoint in enumerate(api.endpoints):
        query = "&".join(f"{k}={v}" for k, v in endpoint.query)
        lines.append(f"endpoint {endpoint.path}{'?' + query if query else ''} "
                     f"(channels: {', '.join(endpoint.channels)})")
        for op in api.operations:
            if op.endpoint != i:
                continue
            said = ", ".join(m.label for m in op.messages)
            if op.replies is not None:
                lines.append(f"  {op.id}: the client sends {said}; the server replies "
                             f"{', '.join(m.label for m in op.replies)}")
            elif op in api.sends(i):
                lines.append(f"  {op.id}: the server sends {said} on its own")
            elif op.action == "send":
                lines.append(f"  {op.id}: the server sends {said} (replies to requests)")
            else:
                lines.append(f"  {op.id}: the client sends {said} (no reply: not checked)")
    ids = [c.id for c in SUITE.for_spec(spec) if c.area == "asyncapi"]
    lines.append(f"checks: {', '.join(ids)}")
    return "\n".join(lines) + "\n"


def _columns(checks: list[Check], width: int | None) -> str:
    width = width or shutil.get_terminal_size((100, 24)).columns
    id_w = max(len(c.id) for c in checks)
    line_w = max(len(c.line) for c in checks)
    indent = id_w + 2 + 6 + 2 + line_w + 2
    lines = [f"{'id':{id_w}}  {'level':6}  {'protocol':{line_w}}  description"]
    for c in checks:
        wrapped = textwrap.wrap(c.description, max(30, width - indent)) or [""]
        lines.append(f"{c.id:{id_w}}  {c.level:6}  {c.line:{line_w}}  {wrapped[0]}")
        lines += [" " * indent + more for more in wrapped[1:]]
    lines.append("")
    lines.append(f"{len(checks)} checks. MUST failures fail the run; SHOULD failures warn "
                 "unless --strict.")
    return "\n".join(lines) + "\n"


def _spec_toml(given: str | None) -> tuple[Spec, str]:
    """The effective spec and its TOML with every key, known failures included."""
    flag = {"spec": Given(given, "--spec")} if given else {}
    settings = resolve(flag, rootdir=Path.cwd(), interface="run")
    known = ", ".join(f'"{i}"' for i in settings.known_failures)
    return settings.spec, (f"expected_failures = [{known}]  # check ids expected to fail\n\n"
                           + settings.spec.to_toml())


#: The warning filter for plugin modules the app imported before pytest started.
_IMPORTED_FIRST = ("ignore:Module already imported so cannot be rewritten"
                   ":pytest.PytestAssertRewriteWarning")


def _run(args: argparse.Namespace, pytest_args: list[str]) -> int:
    import pytest

    for arg in pytest_args:
        if arg.startswith("--wscheck-"):
            name = arg.split("=", 1)[0]
            own = next((s.cli_flag for s in TABLE if s.pytest_flag == name), None)
            raise UsageError(f"give {own} before `--`, not {name} after it" if own else
                             f"{name} is not for `wscheck run` (run pytest for it)")
    # Every value is checked here first, as the plugin checks it again, so that a bad one is
    # this command's own line (`wscheck run: ...`), not pytest's `ERROR:` block; the app named
    # is imported here for the same reason (the plugin then finds it imported).
    given = {s.name: Given(getattr(args, s.name), s.cli_flag or s.pytest_flag)
             for s in TABLE if getattr(args, s.name, None) not in (None, "", False)}
    checked = resolve(given, rootdir=Path(os.getcwd()), interface="run")
    if checked.app:
        from wscheck.config.target import load_app

        here = os.getcwd()
        if here not in sys.path:
            sys.path.insert(0, here)
        load_app(checked.app)
    options = ["--wscheck-command=run"]
    if not (args.app or args.url):
        options.append(f"--wscheck-app={REFERENCE_APP}")
    for setting in TABLE:
        value = getattr(args, setting.name, None)
        if setting.switch:
            if value:
                options.append(setting.pytest_flag)
        elif value is not None:
            if setting.path and value:
                value = os.path.abspath(value)  # hints then work from any directory
            # The `=` form: a value that starts with '-' stays a value.
            options.append(f"{setting.pytest_flag}={value}")
    # The suite only: an empty scratch directory to collect, an empty ini file, no conftest.
    # The rootdir stays here (node ids read `wscheck::echo.exact`, the app may open files
    # relative to the current directory, [tool.wscheck] is read from here), and here is
    # importable for --app.
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    with tempfile.TemporaryDirectory(prefix="wscheck-run-") as scratch:
        ini = Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        # pytest-asyncio, when installed, is not needed by the suite and only warns here.
        # The app was imported above, with whatever pytest plugins it imports itself (every
        # Starlette app imports anyio, whose plugin pytest then cannot assert-rewrite): that
        # warning is about plugins' own asserts, not the suite's, so it is not shown.
        # The suite has no assert statement of its own; rewriting those of every installed
        # plugin's package (Hypothesis's, anyio's, ...) cost a second and more of every
        # start where bytecode is not written (PYTHONDONTWRITEBYTECODE), so it is off.
        return int(pytest.main([
            "-c", str(ini), "--rootdir", here, "--noconftest", "-p", "no:cacheprovider",
            "-p", "no:asyncio", "--assert=plain", "-W", _IMPORTED_FIRST, *options,
            *pytest_args, scratch,
        ]))


def _serve(args: argparse.Namespace) -> int:
    from reference_app import serve

    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_message_size < 1:
        raise UsageError(f"--max-message-size must be at least 1 byte, got "
                         f"{args.max_message_size}")
    spec = _spec_toml(args.spec)[0]
    serve(args.host, args.port, spec=spec, max_message_size=args.max_message_size)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from wscheck.reporting.replay import replay

    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    return replay(args.report, args.check_id, url=args.url, app=args.app,
                  timeout=args.timeout, ca_file=args.ca_file)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wscheck`` console script; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["load"]:
        from wscheck.load import main as load  # without importing Locust

        return load(words[1:])
    command = words[0] if words and words[0] in COMMANDS else None
    pytest_args: list[str] = []
    if command == "run" and "--" in words:
        cut = words.index("--")
        words, pytest_args = words[:cut], words[cut + 1:]
    try:
        args, extra = _parser().parse_known_args(words)
        if extra:
            raise _unrecognized(command, extra)
        if args.command == "run":
            return _run(args, pytest_args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "checks":
            if args.spec:
                spec = _spec_toml(args.spec)[0]
                print(terminal_catalogue(suite=args.suite, spec=spec), end="")
            elif args.markdown:
                print(rfc6455_catalogue() if args.suite == "rfc6455" else catalogue(), end="")
            else:
                print(terminal_catalogue(suite=args.suite), end="")
            return 0
        spec, toml = _spec_toml(args.spec)
        if spec.api is not None:
            if args.asyncapi:
                raise SettingError(f"--spec {args.spec} is an AsyncAPI document already")
            print(_api_summary(spec), end="")
            return 0
        if args.asyncapi:
            from wscheck.core.asyncapi import asyncapi_json

            print(asyncapi_json(spec), end="")
            return 0
        print(toml, end="")
        return 0
    except UsageError as exc:
        print(f"wscheck{' ' + command if command else ''}: {exc}", file=sys.stderr)
        return exit_status(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
