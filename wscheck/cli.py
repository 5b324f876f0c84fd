"""The ``wscheck`` command: ``run`` the suite, ``replay`` a failure from a report, ``serve``
the reference app, print the ``spec`` (TOML or AsyncAPI) or the ``checks``.

``wscheck run`` is pytest with the bundled suite and nothing else: it runs from an empty
scratch directory with an empty ini file, so the user's own tests, conftest files and pytest
settings are not collected, while the current directory stays importable for ``--app`` and
its ``pyproject.toml`` ``[tool.wscheck]`` table still describes the protocol.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wscheck.known import load_spec_and_known
from wscheck.spec import Spec, SpecError

__all__ = ["main"]

REFERENCE_APP = "reference_app:app"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wscheck",
        description="Conformance test kit for the WebSocket chat protocol.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the conformance suite (default target: the bundled reference app)",
        description="Run the conformance suite through pytest. Arguments after `--` go to "
                    "pytest (e.g. `-- -k echo -v`). Exit status: 0 every MUST check passed, "
                    "1 a check failed, 4 bad options.")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--app", metavar="MODULE:ATTR",
                        help="ASGI app to check in-process (MODULE:ATTR or MODULE:factory())")
    target.add_argument("--url", metavar="ws://HOST:PORT[/prefix]",
                        help="live server to check over the network")
    run.add_argument("--spec", metavar="FILE.toml",
                     help="protocol description (default: [tool.wscheck] in ./pyproject.toml, "
                          "else the reference protocol)")
    run.add_argument("--strict", action="store_true", help="fail on SHOULD-level failures too")
    run.add_argument("--timeout", metavar="SECONDS", help="deadline of any single wait")
    run.add_argument("--ca-file", metavar="FILE", help="CA bundle to trust for wss:// targets")
    run.add_argument("--examples", metavar="N", help="generated examples per property check")
    run.add_argument("--report", metavar="FILE.json", help="write a JSON report of the run")
    run.add_argument("--html", metavar="FILE.html", help="write an HTML report of the run")
    run.add_argument("--xfail", metavar="FILE",
                     help="known failures, one check id a line (also: expected_failures in "
                          "the spec)")
    run.add_argument("--show-credentials", action="store_true",
                     help="show token and cookie values in reports (masked by default)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER,
                     help="after `--`: extra pytest arguments")

    replay = sub.add_parser(
        "replay", help="run a failing check's conversation from a JSON report again",
        description="Run the conversation a check failed on (from a report written with "
                    "--report / --wscheck-report) against the target again and print the "
                    "expected and observed transcripts side by side. Exit status: 0 it now "
                    "conforms, 1 it still fails, 4 bad arguments.")
    replay.add_argument("report", metavar="REPORT.json")
    replay.add_argument("check_id", metavar="CHECK_ID")
    replay_target = replay.add_mutually_exclusive_group()
    replay_target.add_argument("--url", metavar="ws://HOST:PORT[/prefix]",
                               help="replay against this server (default: the report's target)")
    replay_target.add_argument("--app", metavar="MODULE:ATTR",
                               help="replay against this ASGI app in-process")
    replay.add_argument("--timeout", metavar="SECONDS", type=float,
                        help="deadline of any single wait (default: the report's)")
    replay.add_argument("--ca-file", metavar="FILE", help="CA bundle to trust for wss://")

    serve = sub.add_parser("serve", help="serve the reference app with uvicorn",
                           description="Serve the bundled reference app (the executable spec).")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--spec", metavar="FILE.toml", help="serve the reference for this spec")
    serve.add_argument("--max-message-size", type=int, default=1024 * 1024, metavar="BYTES",
                       help="larger messages get a close with 1009 (default: %(default)s)")

    spec = sub.add_parser("spec", help="print the effective spec as TOML (or AsyncAPI 3.0)")
    spec.add_argument("--spec", metavar="FILE.toml", help="spec file to read")
    spec.add_argument("--asyncapi", action="store_true",
                      help="print the protocol as an AsyncAPI 3.0 document (JSON) instead")

    sub.add_parser("checks", help="print the check catalogue (Markdown)")
    sub.add_parser("load", help="conformance under load, on Locust (wscheck load --help)")
    return parser


def catalogue() -> str:
    """The check catalogue as a Markdown table: ``docs/checks.md`` is this, verbatim."""
    from wscheck.checks import all_checks

    lines = [
        "# Check catalogue",
        "",
        "Generated by `wscheck checks` from the check definitions; a test keeps this file "
        "equal to its output.",
        "MUST failures fail the run; SHOULD failures are warnings unless `--wscheck-strict`.",
        "The protocol line refers to [the protocol](protocol.md): endpoint and item number.",
        "",
        "| id | level | protocol line | description |",
        "| --- | --- | --- | --- |",
    ]
    for c in all_checks():
        description = c.description.replace("|", "\\|")
        lines.append(f"| `{c.id}` | {c.level} | {c.line} | {description} |")
    return "\n".join(lines) + "\n"


def _spec_file(given: str | None) -> Path | None:
    if given:
        return Path(given).resolve()
    pyproject = Path.cwd() / "pyproject.toml"
    if pyproject.is_file() and "[tool.wscheck" in pyproject.read_text(encoding="utf-8"):
        return pyproject.resolve()
    return None


def _load(given: str | None) -> Spec:
    path = _spec_file(given)
    return load_spec_and_known(path)[0] if path else Spec()


def _run(args: argparse.Namespace) -> int:
    import pytest

    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    options = ["--wscheck-url", args.url] if args.url else ["--wscheck-app",
                                                             args.app or REFERENCE_APP]
    spec_file = _spec_file(args.spec)
    if spec_file:
        options += ["--wscheck-spec", str(spec_file)]
    if args.strict:
        options.append("--wscheck-strict")
    if args.timeout:
        options += ["--wscheck-timeout", args.timeout]
    if args.examples:
        options += ["--wscheck-examples", args.examples]
    if args.ca_file:
        options += ["--wscheck-ca-file", str(Path(args.ca_file).resolve())]
    for flag, value in (("--wscheck-report", args.report), ("--wscheck-html", args.html),
                        ("--wscheck-xfail", args.xfail)):
        if value:
            options += [flag, str(Path(value).resolve())]
    if args.show_credentials:
        options.append("--wscheck-show-credentials")
    # The suite only: an empty scratch directory to collect, an empty ini file, no conftest.
    # The rootdir stays here (node ids read `wscheck::echo.exact`, and the app may open
    # files relative to the current directory), and here is importable for --app.
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    with tempfile.TemporaryDirectory(prefix="wscheck-run-") as scratch:
        ini = Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        # pytest-asyncio, when installed, is not needed by the suite and only warns here.
        return int(pytest.main([
            "-c", str(ini), "--rootdir", here, "--noconftest", "-p", "no:cacheprovider",
            "-p", "no:asyncio", *options, *extra, scratch,
        ]))


def _serve(args: argparse.Namespace) -> int:
    from reference_app import serve

    if not 0 < args.port < 65536:
        print(f"wscheck serve: --port must be between 1 and 65535, got {args.port}",
              file=sys.stderr)
        return 4
    if args.max_message_size < 1:
        print(f"wscheck serve: --max-message-size must be at least 1 byte, got "
              f"{args.max_message_size}", file=sys.stderr)
        return 4
    serve(args.host, args.port, spec=_load(args.spec), max_message_size=args.max_message_size)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wscheck`` console script; returns the exit status."""
    if (given := list(sys.argv[1:] if argv is None else argv))[:1] == ["load"]:
        from wscheck.load import main as load  # its own options: see wscheck/load/cli.py
        return load(given[1:])
    args = _parser().parse_args(given)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "checks":
            print(catalogue(), end="")
            return 0
        if args.command == "replay":
            return _replay(args)
        if args.asyncapi:
            from wscheck.asyncapi import asyncapi_json

            print(asyncapi_json(_load(args.spec)), end="")
            return 0
        print(_load(args.spec).to_toml(), end="")
        return 0
    except SpecError as exc:
        print(f"wscheck: {exc}", file=sys.stderr)
        return 4


def _replay(args: argparse.Namespace) -> int:
    from wscheck.replay import ReplayError, replay

    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return replay(args.report, args.check_id, url=args.url, app=args.app,
                      timeout=args.timeout, ca_file=args.ca_file)
    except ReplayError as exc:
        print(f"wscheck replay: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
