"""The ``wscheck`` command: ``run`` the suite, ``serve`` the reference app, print the ``spec``.

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

from wscheck.spec import Spec, SpecError, load_spec

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
    run.add_argument("pytest_args", nargs=argparse.REMAINDER,
                     help="after `--`: extra pytest arguments")

    serve = sub.add_parser("serve", help="serve the reference app with uvicorn",
                           description="Serve the bundled reference app (the executable spec).")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--spec", metavar="FILE.toml", help="serve the reference for this spec")

    spec = sub.add_parser("spec", help="print the effective spec as TOML")
    spec.add_argument("--spec", metavar="FILE.toml", help="spec file to read")
    return parser


def _spec_file(given: str | None) -> Path | None:
    if given:
        return Path(given).resolve()
    pyproject = Path.cwd() / "pyproject.toml"
    if pyproject.is_file() and "[tool.wscheck" in pyproject.read_text(encoding="utf-8"):
        return pyproject.resolve()
    return None


def _load(given: str | None) -> Spec:
    path = _spec_file(given)
    return load_spec(path) if path else Spec()


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
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)  # --app MODULE:ATTR is imported from here, as uvicorn does
    with tempfile.TemporaryDirectory(prefix="wscheck-run-") as scratch:
        ini = Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n", encoding="utf-8")
        os.chdir(scratch)  # node ids read `wscheck::echo.exact`, not a path to the scratch dir
        try:
            # pytest-asyncio, when installed, is not needed by the suite and only warns here.
            return int(pytest.main([
                "-c", str(ini), "--rootdir", scratch, "-p", "no:cacheprovider",
                "-p", "no:asyncio", *options, *extra, scratch,
            ]))
        finally:
            os.chdir(here)


def _serve(args: argparse.Namespace) -> int:
    from reference_app import serve

    if not 0 < args.port < 65536:
        print(f"wscheck serve: --port must be between 1 and 65535, got {args.port}",
              file=sys.stderr)
        return 4
    serve(args.host, args.port, spec=_load(args.spec))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wscheck`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "serve":
            return _serve(args)
        print(_load(args.spec).to_toml(), end="")
        return 0
    except SpecError as exc:
        print(f"wscheck: {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
