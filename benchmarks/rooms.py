"""How long broadcast-room runs take over uvicorn, next to baselines measured in the same run.

Times ``wscheck run`` (its pytest time, from the summary line) on rooms checked against
``examples/fastapi_docs_chat.toml``:

- FastAPI's tutorial003 (from the sdist of the installed fastapi, as tests/fastapi_docs.py
  fetches it) in-process and over uvicorn: the network run within 2x of the in-process one;
- its mutant that sends the broadcast only to the sender, over uvicorn: a failing run within
  3x of the passing one (tutorial003 over uvicorn);
- every room of tests/broken_rooms/ over uvicorn (with the join-notice spec where
  tests/test_broken_rooms.py uses it): each under 10 s.

Absolute seconds depend on the machine; the ratios, within one run, are the figures to
compare. Every server runs under uvicorn in a child process of its own. ``--baseline DIR``
times the same runs with another checkout of the kit (say main, from ``git archive``), in the
same run. Prints a table, then with ``--json`` one JSON line.

``--quiet-window SECONDS`` runs every check with that quiet window: a passing network run
is about one quiet window per room scenario, so the ratio to in-process follows it.

Usage: ``python benchmarks/rooms.py [--baseline DIR] [--only NAME ...] [--quiet-window S]
[--json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from roundtrip import uvicorn_server  # noqa: E402
from suite import time_run  # noqa: E402

from tests.fastapi_docs import fetch_tutorials  # noqa: E402
from wscheck.core.spec import load_spec  # noqa: E402

CHAT = ROOT / "examples" / "fastapi_docs_chat.toml"
#: The rooms tests/test_broken_rooms.py checks against the chat spec with a join notice.
JOIN_NOTICE_ROOMS = ("announcing", "join_notice_to_newcomer")
BROKEN_ROOMS = sorted(p.stem for p in (ROOT / "tests" / "broken_rooms").glob("*.py")
                      if p.stem != "__init__")

#: The line of tutorial003 the mutant changes, and what it becomes.
BROADCAST = 'await manager.broadcast(f"Client #{client_id} says: {data}")'
TO_SENDER = 'await manager.send_personal_message(f"Client #{client_id} says: {data}", websocket)'

TARGETS = {"tutorial_over_uvicorn_to_in_process": 2.0, "failing_to_passing": 3.0}
BROKEN_ROOM_SECONDS = 10.0


def _specs(directory: Path) -> tuple[Path, Path]:
    """The chat spec, and the chat spec with a join notice (written into ``directory``)."""
    chat = load_spec(CHAT)
    assert chat.broadcast is not None
    join = dataclasses.replace(chat, broadcast=dataclasses.replace(
        chat.broadcast, join_notice="Client #{client_id} joined the chat"))
    path = directory / "chat_join.toml"
    path.write_text(join.to_toml(), encoding="utf-8")
    return CHAT, path


def _apps(directory: Path) -> tuple[Path, Path]:
    """tutorial003 and its mutant as module files in ``directory``."""
    tutorials = fetch_tutorials(directory / "sdist")
    if isinstance(tutorials, str):
        raise SystemExit(f"benchmarks/rooms.py: {tutorials}")
    source = tutorials.source("tutorial003")
    if BROADCAST not in source:
        raise SystemExit("benchmarks/rooms.py: tutorial003 has no line to mutate")
    tutorial = directory / "tutorial003.py"
    tutorial.write_text(source, encoding="utf-8")
    mutant = directory / "tutorial003_to_sender.py"
    mutant.write_text(source.replace(BROADCAST, TO_SENDER), encoding="utf-8")
    return tutorial, mutant


#: Options added to every run (``--quiet-window``).
OPTIONS: list[str] = []


def _run(target: list[str], spec: Path, kit: Path | None,
         files: tuple[Path, ...] = ()) -> dict[str, Any]:
    run = time_run([*target, "--spec", str(spec), *OPTIONS], [], kit, files=files)
    return {"pytest_s": run["pytest_s"], "exit_status": run["exit_status"],
            "summary": run["summary"]}


def measure(kits: dict[str, Path | None], only: set[str] | None) -> dict[str, Any]:
    """Every run, for every kit, one after another on the same servers."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        chat, join = _specs(directory)
        tutorial, mutant = _apps(directory)
        with uvicorn_server(f"{tutorial.stem}:app", directory, "critical") as url:
            for prefix, kit in kits.items():
                result[f"{prefix}tutorial003_in_process"] = _run(
                    ["--app", "tutorial003:app"], chat, kit, (tutorial,))
                result[f"{prefix}tutorial003_uvicorn"] = _run(["--url", url], chat, kit)
        with uvicorn_server(f"{mutant.stem}:app", directory, "critical") as url:
            for prefix, kit in kits.items():
                result[f"{prefix}to_sender_uvicorn"] = _run(["--url", url], chat, kit)
        for name in BROKEN_ROOMS:
            if only is not None and name not in only:
                continue
            spec = join if name in JOIN_NOTICE_ROOMS else chat
            for prefix, kit in kits.items():
                # A fresh server per kit: a room is module state.
                with uvicorn_server(f"tests.broken_rooms.{name}:app", log_level="critical") as url:
                    result[f"{prefix}room_{name}_uvicorn"] = _run(["--url", url], spec, kit)
    for prefix in kits:
        passing = result[f"{prefix}tutorial003_uvicorn"]["pytest_s"]
        result[f"{prefix}tutorial_over_uvicorn_to_in_process"] = round(
            passing / result[f"{prefix}tutorial003_in_process"]["pytest_s"], 2)
        result[f"{prefix}failing_to_passing"] = round(
            result[f"{prefix}to_sender_uvicorn"]["pytest_s"] / passing, 2)
    return result


def table(result: dict[str, Any], kits: dict[str, Path | None]) -> str:
    lines = []
    for prefix in kits:
        lines.append(f"kit: {kits[prefix] or 'this checkout'}")
        lines.append(f"  {'run':<38} {'pytest s':>9} {'exit':>5}  target")
        for key, run in result.items():
            if not key.startswith(prefix) or not isinstance(run, dict):
                continue
            name = key.removeprefix(prefix)
            if prefix == "" and name.startswith("baseline_"):
                continue
            goal = (f"< {BROKEN_ROOM_SECONDS:g} s" if name.startswith("room_") else "")
            lines.append(f"  {name:<38} {run['pytest_s']:>9.2f} {run['exit_status']:>5}  "
                         f"{goal}")
        for ratio, most in TARGETS.items():
            lines.append(f"  {ratio:<38} {result[prefix + ratio]:>9.2f} {'':>5}  "
                         f"<= {most:g}x")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="another checkout of the kit, timed in the same run")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="only these rooms of tests/broken_rooms/ (default: every one)")
    parser.add_argument("--quiet-window", type=float, default=None, metavar="SECONDS",
                        help="the quiet window of every run (default: the kit's)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if args.quiet_window is not None:
        OPTIONS.extend(["--quiet-window", str(args.quiet_window)])
    if args.baseline is not None and not (args.baseline / "wscheck" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no checkout of the kit there (no wscheck/)")
    kits: dict[str, Path | None] = {"": None}
    if args.baseline is not None:
        kits["baseline_"] = args.baseline.resolve()
    result = measure(kits, set(args.only) if args.only is not None else None)
    print(table(result, kits))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
