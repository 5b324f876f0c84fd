"""docs/architecture.md and the package agree: the folders are the layers, every module is
listed, no import reaches a higher layer, and no import circle exists.

The layers are read from the page itself, so moving a module means changing the page, and an
import that reaches upwards (even one inside a function) fails here with the line to look at.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("wscheck", "reference_app")
#: ``| `wscheck/core/` | 0 | ... |``: a package (a folder) or a top-level module, and its layer.
UNIT_ROW = re.compile(r"^\| `([\w/]+(?:/|\.py))` \| (\d) \|", re.MULTILINE)
#: ``| `wscheck/core/events.py` | ... |``: a module and what it is.
MODULE_ROW = re.compile(r"^\| `([\w/]+\.py)` \| (?!\d \|)", re.MULTILINE)

Imports = Callable[[str], list[tuple[int, str]]]


def _module_name(path: str) -> str:
    name = path.removesuffix(".py").removesuffix("/").replace("/", ".")
    return name.removesuffix(".__init__")


def _units() -> dict[str, int]:
    """Each layer unit (a package or a top-level module) by dotted name, with its layer."""
    return {_module_name(path): int(layer) for path, layer in UNIT_ROW.findall(PAGE.read_text())}


def _listed_modules() -> set[str]:
    text = PAGE.read_text()
    units = {_module_name(path) for path, _ in UNIT_ROW.findall(text)}
    # A package's row stands for its __init__; a top-level module's row for the module.
    return units | {_module_name(path) for path in MODULE_ROW.findall(text)}


def _modules_on_disk() -> set[str]:
    return {
        _module_name(path.relative_to(ROOT).as_posix())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }


def _unit_of(module: str, units: Mapping[str, int]) -> str | None:
    """The layer unit a module belongs to: the longest listed name that is it or contains it."""
    name = module
    while name and name not in units:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[int, str]]:
    """Every import of the project's own modules in ``module``, with its line number."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from wscheck.drivers import base`` imports the module ``wscheck.drivers.base``.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in PACKAGES]
    return found


def _owner(name: str, modules: set[str]) -> str | None:
    """The module an imported name belongs to (``wscheck.core.events.Text`` -> its module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _upward(modules: set[str], units: Mapping[str, int], imports: Imports) -> list[str]:
    """Every import that reaches from a module into a higher layer, as ``module:line`` text."""
    wrong = []
    for module in sorted(modules):
        unit = _unit_of(module, units)
        assert unit is not None, f"{module} is in no package of docs/architecture.md"
        for line, name in imports(module):
            target = _owner(name, modules)
            if target is None or target == module:
                continue
            target_unit = _unit_of(target, units)
            assert target_unit is not None, target
            if units[target_unit] > units[unit]:
                wrong.append(f"{module}:{line} (layer {units[unit]}) imports {target} "
                             f"(layer {units[target_unit]})")
    return wrong


def _circles(modules: set[str], imports: Imports) -> list[list[str]]:
    """Every import circle between modules (imports inside functions included), each once."""
    graph = {m: sorted({o for _, n in imports(m) if (o := _owner(n, modules)) not in (None, m)})
             for m in modules}
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph[module]:
            if state.get(target) == 1:
                found.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module)
    return found


def test_every_module_is_on_the_page_and_every_listed_module_exists() -> None:
    listed, on_disk = _listed_modules(), _modules_on_disk()
    assert not on_disk - listed, f"add these modules to docs/architecture.md: {on_disk - listed}"
    assert not listed - on_disk, f"docs/architecture.md lists modules now gone: {listed - on_disk}"


def test_the_folders_are_the_layers() -> None:
    """Every layer unit is a package or one of the few top-level modules: no module of a
    subpackage has a layer of its own, and at most a handful of modules sit at the top."""
    units = _units()
    top_modules = {u for u in units if u.count(".") == 1 and not (
        ROOT / u.replace(".", "/")).is_dir()}
    assert top_modules <= {"wscheck.errors", "wscheck._version", "wscheck.__main__"}, top_modules
    assert all(u.count(".") <= 1 for u in units), units


def test_no_module_imports_from_a_higher_layer() -> None:
    wrong = _upward(_modules_on_disk(), _units(), _imports)
    assert not wrong, "\n".join(wrong)


def test_no_import_circle() -> None:
    circles = _circles(_modules_on_disk(), _imports)
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_check_modules_are_leaves() -> None:
    modules = _modules_on_disk()
    shared = {"wscheck.checks", "wscheck.checks.judging"}
    checks = {m for m in modules if m.startswith("wscheck.checks.")} - shared
    wrong = [f"{module}:{line} imports {_owner(name, modules)}"
             for module in sorted(checks) for line, name in _imports(module)
             if _owner(name, modules) in checks - {module}]
    assert not wrong, "\n".join(wrong)


def test_the_foundation_and_the_model_do_no_io() -> None:
    """Layers 0 and 1 are values and pure functions: nothing there may reach for a socket,
    an event loop or a driver, which is what keeps the model testable exhaustively."""
    forbidden = {"asyncio", "socket", "ssl", "httpx", "httpcore", "wsproto", "anyio", "pytest"}
    units = _units()
    wrong = []
    for module in sorted(_modules_on_disk()):
        unit = _unit_of(module, units)
        if unit is None or units[unit] > 1:
            continue
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{module}:{node.lineno} imports {name}" for name in names
                      if name.split(".")[0] in forbidden]
    assert not wrong, "\n".join(wrong)


def test_the_layer_rule_catches_an_upward_import() -> None:
    """The checker itself can fail: the model importing a check (by module or by name) is
    reported, a check importing the model is not."""
    units = {"wscheck.model": 1, "wscheck.checks": 5}
    modules = {"wscheck.model.echo", "wscheck.checks.echo"}
    imports = {"wscheck.model.echo": [(3, "wscheck.checks.echo.echo_exact")],
               "wscheck.checks.echo": [(7, "wscheck.model.echo.expected")]}
    assert _upward(modules, units, imports.__getitem__) == [
        "wscheck.model.echo:3 (layer 1) imports wscheck.checks.echo (layer 5)"]


def test_the_circle_rule_catches_a_circle() -> None:
    """A circle inside one layer (report -> target -> settings -> report, as once) is found,
    and a chain without one is not."""
    modules = {"a.report", "a.target", "a.settings", "a.limits"}
    imports = {"a.report": [(1, "a.target.Settings"), (2, "a.limits")],
               "a.target": [(1, "a.settings")],
               "a.settings": [(9, "a.report.check_report_path")],
               "a.limits": []}
    assert _circles(modules, imports.__getitem__) == [
        ["a.report", "a.target", "a.settings", "a.report"]]
    imports["a.settings"] = [(9, "a.limits.check_report_path")]
    assert _circles(modules, imports.__getitem__) == []


#: Exceptions the kit raises to stop a library's loop and catches right there: not errors.
SIGNALS = {"wscheck.generation.runner.ShrinkSpent"}  # ends Hypothesis's run (an interrupt)


def test_every_exception_class_derives_from_the_root() -> None:
    """``except WscheckError`` catches everything the kit raises on purpose; anything else
    that escapes is a bug in the kit. Warnings are not errors and stay pytest's."""
    import importlib
    import inspect

    from wscheck.errors import WscheckError

    wrong = []
    for module in sorted(_modules_on_disk()):
        if (not module.startswith("wscheck") or module.endswith("__main__")
                or module.startswith("wscheck.load.")):
            continue  # the kit only; Locust's modules patch the process for gevent
        for name, obj in vars(importlib.import_module(module)).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module and not issubclass(obj, Warning)
                    and not issubclass(obj, WscheckError)
                    and f"{module}.{name}" not in SIGNALS):
                wrong.append(f"{module}.{name}")
    # The Locust modules, read instead of imported: their exception classes name a kit error.
    for path in (ROOT / "wscheck" / "load").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and b.id in ("Exception", "BaseException",
                                                         "RuntimeError", "ValueError")
                    for b in node.bases):
                wrong.append(f"{path.name}: {node.name}")
    assert not wrong, wrong
