"""Mutation testing of the reference app, with the kit as the test suite.

Every mutant of ``reference_app/__init__.py`` that cosmic-ray's operators can make (comparison,
arithmetic, boolean and unary operators swapped, numbers changed, ``not`` added, exceptions
replaced, loops emptied, ``True``/``False`` swapped) is written into a copy of the package, and
the kit's bundled suite runs against it, in a fresh interpreter in an empty directory:
``python -m pytest -p no:cacheprovider --wscheck-app ...`` with ``--wscheck-strict`` (the
reference app meets the SHOULD lines too), the kit's in-process default of 100 examples per
property (derandomized: ``CI=1``, so every mutant meets the same examples), a 0.3 s idle
watch, and a JSON report that names the failing checks.
Each mutant meets three targets in turn, until one kills it: the default protocol
(``reference_app:app``), and two broadcast rooms (the default room beside the default
protocol, and a room that sends to the others only, with join notices and no reply), since
the room code is dead under the default protocol (a mutant meets only the targets whose app
runs its function). A mutant that survives them is then served by uvicorn (``wscheck serve``,
the real serving path, on a free loopback port) and checked over the network.

A survivor is either listed in ``benchmarks/mutation/equivalent.toml`` (with why) or a blind
spot (``benchmarks/mutation/blind_spots.md``). The run writes ``benchmarks/mutation/
results.json``, which ``tests/test_mutation.py`` compares with the current source.

``redaction.py`` (what uvicorn logs) and ``__main__.py`` (command-line parsing) are not
mutated: neither is reachable through the protocol, in-process or on the wire (see
``EXCLUDED``); their own tests cover them.

cosmic-ray is used as a library: its operators enumerate and apply the mutations, and this
script runs each one (one at a time, niced, with a deadline per run) so that it can use a
throw-away copy of the package, several targets and the kit's report.

Usage: ``python benchmarks/mutation.py [--only KEY]... [--survivors] [--limit N]
[--no-uvicorn] [--out FILE]``; ``--list`` prints the mutants' keys.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import difflib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the kit depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "reference_app"
DATA = ROOT / "benchmarks" / "mutation"
RESULTS = DATA / "results.json"
CLASSIFIED = DATA / "equivalent.toml"

#: The files mutated, relative to the checkout.
MUTATED = ("reference_app/__init__.py",)
#: Files of the package left alone, and why.
EXCLUDED = {
    "reference_app/redaction.py": "rewrites uvicorn's log records: nothing it does reaches "
                                  "a client or the ASGI interface (tests/test_redaction.py)",
    "reference_app/__main__.py": "parses python -m reference_app's command line: not part of "
                                 "the protocol (tests/test_reference_app.py)",
}

#: Seconds one suite run may take before it counts as a hang (the suite takes about 2 s).
RUN_TIMEOUT = 120.0
#: Settings of the in-process runs: the kit's defaults (100 examples per property), but a
#: short idle watch (the reference app has no timer: a longer watch would find nothing more).
SWEEP: dict[str, float] = {"examples": 100, "idle_watch": 0.3}
#: Over the network: the kit's default number of examples there.
NETWORK: dict[str, float] = {"examples": 25, "idle_watch": 0.3}
NICE = 10
#: What cosmic-ray's ExceptionReplacer puts in an ``except`` clause: never raised.
TESTING_EXCEPTION = "CosmicRayTestingException"

#: The default room beside the default protocol, with ``to`` spelled out as a spec file
#: would: a value read from TOML is a string of its own, which an ``is`` comparison with the
#: literal "everyone" (a mutant) tells from the interned default.
ROOM_TOML = '[broadcast]\nto = "everyone"\n'
OTHERS_TOML = """\
[echo]
enabled = false
[auth]
enabled = false
[broadcast]
path = "/rooms/{room}/{who}"
client_param = "who"
reply = ""
to = "others"
broadcast = "[{room}] {who}: {message}"
join_notice = "{who} joined {room}"
leave_notice = "{who} left"
path_params = { room = "lobby" }
"""
TARGETS_MODULE = """\
from pathlib import Path

from reference_app import create_app
from wscheck.core.spec import load_spec

HERE = Path(__file__).resolve().parent / "run"
room = create_app(load_spec(HERE / "room.toml"))
others = create_app(load_spec(HERE / "others.toml"))
"""


@dataclass(frozen=True)
class Target:
    """One protocol the suite checks a mutant against: an app and its spec file."""

    name: str
    app: str
    spec: str | None  # a file written into the run directory, or the reference protocol


TARGETS = (
    Target("default", "reference_app:app", None),
    Target("room", "mutation_targets:room", "room.toml"),
    Target("others", "mutation_targets:others", "others.toml"),
)


@dataclass
class Mutant:
    """One mutation, with a key that survives edits elsewhere in the file."""

    key: str
    file: str
    function: str
    operator: str
    occurrence: int
    line: int
    before: str
    after: str
    diff: str
    code: str = field(repr=False)


def _functions(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every def and class, outermost first."""
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _function_at(functions: list[tuple[int, int, str]], line: int) -> str:
    inner = [f for f in functions if f[0] <= line <= f[1]]
    return max(inner, key=lambda f: f[0])[2] if inner else "<module>"


def function_hashes() -> dict[str, str]:
    """A digest of every top-level definition (and of the module's other statements) of the
    mutated files: when one changes, the recorded results no longer cover the source."""
    hashes: dict[str, str] = {}
    for rel in MUTATED:
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        rest: list[str] = []
        for node in tree.body:
            dump = ast.dump(node)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                hashes[f"{rel}::{node.name}"] = hashlib.sha256(dump.encode()).hexdigest()[:16]
            else:
                rest.append(dump)
        hashes[f"{rel}::<module>"] = hashlib.sha256("\n".join(rest).encode()).hexdigest()[:16]
    return hashes


def _annotations(tree: ast.Module) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The spans of every annotation: with ``from __future__ import annotations`` they are
    strings nothing evaluates (FastAPI reads only the endpoints' ``WebSocket``), so a mutant
    inside one (``str | bytes`` made ``str & bytes``) is equivalent by construction."""
    spans = []
    for node in ast.walk(tree):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0))
                  for a in found if a is not None]
    return spans


def _compiles(code: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # '"is" with a literal': the mutant meant it
            compile(code, "<mutant>", "exec")
    except SyntaxError:
        return False
    return True


def enumerate_mutants(operators: Collection[str] | None = None) -> list[Mutant]:
    """Every mutant cosmic-ray's argument-free operators make of the mutated files; only
    those of ``operators`` (short names, as in a key) when given: the same mutants with the
    same keys, in a fraction of the ~10 s that all take."""
    import cosmic_ray.plugins
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code

    mutants: list[Mutant] = []
    for rel in MUTATED:
        source = (ROOT / rel).read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        functions = _functions(tree)
        annotations = _annotations(tree)
        module = get_ast(source)
        seen: collections.Counter[str] = collections.Counter()
        for name in cosmic_ray.plugins.operator_names():
            cls = cosmic_ray.plugins.get_operator(name)
            if cls.arguments():  # VariableReplacer/Inserter: need a variable named per run
                continue
            if operators is not None and name.split("/")[-1] not in operators:
                continue
            operator = cls()
            positions = [start for node in ast_nodes(module)
                         for start, _ in operator.mutation_positions(node)]
            for occurrence, (row, col) in enumerate(positions):
                if any(a <= (row, col) < b for a, b in annotations):
                    continue
                code = mutate_code(source, operator, occurrence)
                if code is None or not _compiles(code):
                    continue  # cosmic-ray takes a keyword-only ``*`` for a product: not Python
                new = code.splitlines()
                changed = [line for line in difflib.unified_diff(lines, new, lineterm="", n=0)
                           if line[:1] in "+-" and not line.startswith(("+++", "---"))]
                before = " ".join(x[1:].strip() for x in changed if x[0] == "-")
                after = " ".join(x[1:].strip() for x in changed if x[0] == "+")
                function = _function_at(functions, row)
                short = name.split("/")[-1]
                key = f"{rel}::{function}::{short}::{before} => {after}"
                seen[key] += 1
                if seen[key] > 1:
                    key = f"{key} #{seen[key]}"
                diff = "\n".join(difflib.unified_diff(lines, new, rel, rel, lineterm="", n=1))
                if TESTING_EXCEPTION in code:  # ExceptionReplacer's name, defined nowhere
                    code += f"\n\nclass {TESTING_EXCEPTION}(Exception):\n    pass\n"
                mutants.append(Mutant(key, rel, function, short, occurrence, row, before,
                                      after, diff, code))
    return mutants


# --- running the kit against a mutant -------------------------------------------------------

def _nice() -> None:
    """Lower this process's priority to ``NICE`` (not further if it already is)."""
    os.nice(max(0, NICE - os.nice(0)))


def _run(cmd: Sequence[str], cwd: Path, env: dict[str, str],
         timeout: float) -> tuple[int | None, str]:
    """Run ``cmd`` in its own process group, niced; (exit status or None on timeout, output)."""
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_nice)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        _end_group(proc, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out
    except BaseException:  # interrupted: leave no suite running in its own session
        _end_group(proc, signal.SIGKILL)
        proc.wait()
        raise


@contextlib.contextmanager
def workspace(mutant: Mutant | None) -> Iterator[Path]:
    """A directory holding a copy of the package with ``mutant`` applied, the room specs and
    their apps, and an empty ``run/`` to run the kit in."""
    with tempfile.TemporaryDirectory(prefix="wscheck-mutant-") as tmp:
        work = Path(tmp)
        shutil.copytree(PACKAGE, work / "reference_app",
                        ignore=shutil.ignore_patterns("__pycache__"))
        if mutant is not None:
            (work / mutant.file).write_text(mutant.code, encoding="utf-8")
        run = work / "run"
        run.mkdir()
        (run / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # rootdir stops here
        (run / "room.toml").write_text(ROOM_TOML, encoding="utf-8")
        (run / "others.toml").write_text(OTHERS_TOML, encoding="utf-8")
        (work / "mutation_targets.py").write_text(TARGETS_MODULE, encoding="utf-8")
        yield work


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)]),  # the mutant before the checkout
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # only the kit's plugin: a quicker start
        "CI": "1",  # derandomized properties: the same examples for every mutant
    })
    return env


def _kit(target_args: list[str], target: Target, settings: dict[str, float],
         report: Path, checks: Sequence[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
           "wscheck.pytest.plugin", *target_args, "--wscheck-strict", "-q",
           "--wscheck-examples", str(int(settings["examples"])),
           "--wscheck-idle-watch", str(settings["idle_watch"]), "--wscheck-report", str(report)]
    if target.spec:
        cmd += ["--wscheck-spec", target.spec]
    if checks:
        cmd += ["-k", " or ".join(checks)]
    return cmd


def _verdict(status: int | None, report: Path, out: str) -> dict[str, Any]:
    if status is None:
        return {"status": "timeout", "killers": [], "exit": None}
    killers: list[str] = []
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        killers = [c["id"] for c in data["checks"]
                   if c["verdict"] in ("fail", "error", "xpass")
                   or (c["verdict"] == "inconclusive" and c.get("unconcluded") == "precondition")]
    except (OSError, ValueError, KeyError):
        killers = ["<no report: " + (out.strip().splitlines() or ["no output"])[-1][:200] + ">"]
    if status == 0:
        return {"status": "survived", "killers": [], "exit": 0}
    return {"status": "killed", "killers": killers, "exit": status}


def run_in_process(work: Path, target: Target, settings: dict[str, float],
                   timeout: float = RUN_TIMEOUT, checks: Sequence[str] = ()) -> dict[str, Any]:
    """The bundled suite, in-process, against ``target`` built from the package in ``work``
    (only ``checks``, when given: pytest's ``-k``)."""
    report = work / "report.json"
    report.unlink(missing_ok=True)
    status, out = _run(_kit(["--wscheck-app", target.app], target, settings, report, checks),
                       work / "run", _env(work), timeout)
    return _verdict(status, report, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_over_uvicorn(work: Path, target: Target, settings: dict[str, float],
                     timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """The suite over the network against the package in ``work`` served by ``wscheck serve``
    (uvicorn, with the reference app's own configuration) on a free loopback port."""
    port = _free_port()
    serve = [sys.executable, "-c", "import sys; from wscheck.cli.main import main; "
             "sys.exit(main(sys.argv[1:]))", "serve", "--port", str(port)]
    if target.spec:
        serve += ["--spec", target.spec]
    server = subprocess.Popen(serve, cwd=work / "run", env=_env(work),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True,
                              preexec_fn=_nice)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                return {"status": "killed", "killers": ["<server did not start>"],
                        "exit": server.returncode}
            if time.monotonic() > deadline:
                return {"status": "timeout", "killers": ["<server did not start>"],
                        "exit": None}
            time.sleep(0.05)
        report = work / "report.json"
        report.unlink(missing_ok=True)
        status, out = _run(_kit(["--wscheck-url", f"ws://127.0.0.1:{port}"], target, settings,
                                report), work / "run", _env(work), timeout)
        return _verdict(status, report, out)
    finally:
        _end_group(server, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            _end_group(server, signal.SIGKILL)
            server.wait()


def _end_group(proc: subprocess.Popen[Any], sig: int) -> None:
    """Signal ``proc``'s process group (its own session), if anything of it is left."""
    with contextlib.suppress(ProcessLookupError):  # it exited by itself: a mutant that
        os.killpg(proc.pid, sig)                   # cannot start a server


#: Functions that only the room targets reach, and those only the default protocol's.
ROOM_ONLY = ("_Room", "_broadcast_endpoint")
PROTOCOL_ONLY = ("_echo_endpoint", "_auth_endpoint", "parse_q")
#: Helpers whose behaviour does not depend on the endpoint calling them, and whose inputs
#: the rooms' checks do not widen (short messages): the default protocol is enough.
ANY_ENDPOINT = ("_too_big", "_path_params", "_page")
#: Functions only a server runs (``wscheck serve``): dead code in-process.
SERVE_ONLY = ("uvicorn_config", "serve")


def targets_for(mutant: Mutant | None) -> tuple[Target, ...]:
    """The targets whose app runs the mutated code: the room code is dead under the default
    protocol, and the room targets check echo and credentials no further than it does."""
    if mutant is not None and mutant.function.startswith(ROOM_ONLY):
        return TARGETS[1:]
    if mutant is not None and mutant.function.startswith(PROTOCOL_ONLY + ANY_ENDPOINT):
        return TARGETS[:1]
    return TARGETS


def rerun_killers(mutant: Mutant, target_name: str, checks: Sequence[str],
                  timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """Only ``checks`` in-process against one target: does a recorded kill still hold? A few
    seconds, where the whole suite takes twenty."""
    target = next(t for t in TARGETS if t.name == target_name)
    with workspace(mutant) as work:
        return run_in_process(work, target, SWEEP, timeout, checks)


def run_mutant(mutant: Mutant | None, *, uvicorn: bool = False,
               timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """The suite in-process against each target in turn until one kills ``mutant`` (None:
    the unmutated app); with ``uvicorn``, a survivor is run over the network too (the code
    only a server runs, always and only there). Returns
    the verdict, which target killed it, how (``asgi`` or ``uvicorn``) and with which
    checks."""
    started = time.monotonic()
    targets = targets_for(mutant)
    serve_only = mutant is not None and mutant.function.startswith(SERVE_ONLY)
    with workspace(mutant) as work:
        result: dict[str, Any] = {"status": "survived", "target": None, "killers": []}
        for target in () if serve_only else targets:
            verdict = run_in_process(work, target, SWEEP, timeout)
            if verdict["status"] != "survived":
                result = {**verdict, "target": target.name, "via": "asgi"}
                break
        # Over the network, code every endpoint shares meets the default protocol only:
        # the rooms add nothing to what it does there, and a server costs seconds to start.
        shared = mutant is not None and not mutant.function.startswith(ROOM_ONLY)
        if result["status"] == "survived" and (uvicorn or serve_only):
            for target in TARGETS[:1] if shared else targets:
                verdict = run_over_uvicorn(work, target, NETWORK, timeout)
                if verdict["status"] != "survived":
                    result = {**verdict, "target": target.name, "via": "uvicorn"}
                    break
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


# --- classification -------------------------------------------------------------------------

def load_classification(path: Path = CLASSIFIED) -> dict[str, dict[str, str]]:
    """The survivors explained: key → {"kind": "equivalent" | "unconstrained" | "blind-spot",
    "reason": ...}."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {entry["key"]: {"kind": entry["kind"], "reason": entry["reason"]}
            for entry in data.get("mutant", [])}


def score(mutants: list[dict[str, Any]], classified: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Killed / total, and the survivors by kind (unlisted ones are new blind spots). A run
    that outlasts its deadline is not a kill: the kit might have passed the mutant given
    more time, so a timeout is explained in equivalent.toml like a survivor."""
    total = len(mutants)
    killed = [m for m in mutants if m["status"] == "killed"]
    unexplained = [m["key"] for m in mutants if m["status"] in ("survived", "timeout")]
    kinds = collections.Counter(classified.get(k, {"kind": "unlisted"})["kind"]
                                for k in unexplained)
    props_only = [m["key"] for m in killed
                  if m["killers"] and all(k.startswith("prop.") for k in m["killers"])]
    equivalent = kinds["equivalent"]
    return {
        "total": total, "killed": len(killed),
        "survived": sum(m["status"] == "survived" for m in mutants),
        "timeouts": sum(m["status"] == "timeout" for m in mutants),
        "score": round(len(killed) / total, 4) if total else None,
        "score_without_equivalent": (round(len(killed) / (total - equivalent), 4)
                                     if total - equivalent else None),
        "survivors_by_kind": dict(kinds),
        "killed_only_by_properties": props_only,
    }


def _report(document: dict[str, Any], classified: dict[str, dict[str, str]]) -> None:
    figures = document["summary"]
    print(f"mutation score: {figures['killed']}/{figures['total']} killed "
          f"({figures['score']:.1%}); {figures['survived']} survived: "
          f"{figures['survivors_by_kind']}; {figures['timeouts']} timeouts; "
          f"{document['seconds']} s")
    for m in document["mutants"]:
        if m["status"] in ("survived", "timeout") and m["key"] not in classified:
            print(f"  not classified: {m['key']}")
    print(json.dumps({k: v for k, v in figures.items() if k != "killed_only_by_properties"}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="KEY",
                        help="run only this mutant (repeatable), updating --out")
    parser.add_argument("--survivors", action="store_true",
                        help="run only the survivors recorded in --out, updating it")
    parser.add_argument("--rescore", action="store_true",
                        help="run nothing: recount --out with the current equivalent.toml")
    parser.add_argument("--limit", type=int, default=None, help="the first N mutants only")
    parser.add_argument("--no-uvicorn", action="store_true",
                        help="do not serve the survivors with uvicorn")
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT,
                        help="seconds one suite run may take (default %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (JSON)")
    parser.add_argument("--list", action="store_true", help="print the mutants' keys")
    parser.add_argument("--resume", action="store_true",
                        help="skip the mutants an interrupted run already recorded")
    args = parser.parse_args(argv)
    progress = args.out.with_name(args.out.stem + ".partial.jsonl")

    classified = load_classification()
    previous_doc: dict[str, Any] = {}
    if args.survivors or args.only or args.rescore:
        try:
            previous_doc = json.loads(args.out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"cannot read {args.out}: {exc}", file=sys.stderr)
            return 4
    if args.rescore:
        previous_doc["summary"] = score(previous_doc["mutants"], classified)
        args.out.write_text(json.dumps(previous_doc, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
        _report(previous_doc, classified)
        return 0
    mutants = enumerate_mutants()
    if args.list:
        for m in mutants:
            print(m.key)
        return 0
    previous = {m["key"]: m for m in previous_doc.get("mutants", [])}
    chosen = mutants
    if args.only:
        unknown = set(args.only) - {m.key for m in mutants}
        if unknown:
            print(f"no such mutant: {sorted(unknown)[0]!r} (see --list)", file=sys.stderr)
            return 4
        chosen = [m for m in mutants if m.key in args.only]
    elif args.survivors:
        chosen = [m for m in mutants
                  if previous.get(m.key, {}).get("status", "survived") == "survived"]
    if args.limit is not None:
        chosen = chosen[: args.limit]

    _nice()
    # SIGTERM ends the run like Ctrl-C, so that the suite and server running are ended too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    baseline = run_mutant(None, uvicorn=not args.no_uvicorn, timeout=args.timeout)
    if baseline["status"] != "survived":
        print(f"the unmutated reference app fails the suite: {baseline}", file=sys.stderr)
        return 1
    results: dict[str, dict[str, Any]] = dict(previous)
    done: dict[str, dict[str, Any]] = {}
    if args.resume and progress.exists():
        for line in progress.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            done[record["key"]] = record
    else:
        progress.unlink(missing_ok=True)
    for i, mutant in enumerate(chosen, 1):
        if mutant.key in done:
            results[mutant.key] = done[mutant.key]
            continue
        verdict = run_mutant(mutant, uvicorn=not args.no_uvicorn, timeout=args.timeout)
        record = {k: v for k, v in asdict(mutant).items() if k != "code"}
        results[mutant.key] = {**record, **verdict}
        with progress.open("a", encoding="utf-8") as f:
            f.write(json.dumps(results[mutant.key], ensure_ascii=False) + "\n")
        shown = ",".join(verdict["killers"][:3]) or classified.get(
            mutant.key, {"kind": "UNLISTED"})["kind"]
        print(f"[{i}/{len(chosen)}] {verdict['status']:8} {verdict['seconds']:6.1f}s "
              f"{mutant.key}  ({shown})", flush=True)
    elapsed = round(time.monotonic() - started, 1)
    ordered = [results[m.key] for m in mutants if m.key in results]
    full = len(ordered) == len(mutants)
    document = {
        "tool": f"cosmic-ray {metadata.version('cosmic-ray')}",
        "date": previous_doc.get("date") if chosen != mutants else time.strftime("%Y-%m-%d"),
        "mutated": list(MUTATED), "excluded": EXCLUDED,
        "settings": {"asgi": SWEEP, "network": NETWORK,
                     "targets": [asdict(t) for t in TARGETS], "uvicorn": not args.no_uvicorn,
                     "timeout": args.timeout, "nice": NICE},
        "function_hashes": function_hashes(),
        "complete": full,
        # The time of the whole sweep; a partial re-run keeps the last whole one's.
        "seconds": elapsed if chosen == mutants else previous_doc.get("seconds", elapsed),
        "summary": score(ordered, classified), "mutants": ordered,
    }
    if full or args.out != RESULTS:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    else:
        print(f"(a partial run: {args.out} left as it was)")
    progress.unlink(missing_ok=True)
    _report(document, classified)
    return 0


if __name__ == "__main__":
    sys.exit(main())
