"""docs/architecture.md and the package agree: every module listed, no import against the layers.

The layer rule is read from the page itself, so moving a module means changing the page, and
an import that reaches upwards (even one inside a function) fails here with the line to look at.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("wscheck", "reference_app")
ROW = re.compile(r"^\| `([\w/]+\.py)` \| (\d) \|", re.MULTILINE)


def _module_name(path: str) -> str:
    name = path[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _layers() -> dict[str, int]:
    return {_module_name(path): int(layer) for path, layer in ROW.findall(PAGE.read_text())}


def _modules_on_disk() -> set[str]:
    return {
        _module_name(path.relative_to(ROOT).as_posix())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }


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


def _owner(name: str, layers: dict[str, int]) -> str | None:
    """The listed module an imported name belongs to (``wscheck.events.Text`` -> events)."""
    while name and name not in layers:
        name = name.rpartition(".")[0]
    return name or None


def test_every_module_is_on_the_page_and_every_listed_module_exists() -> None:
    listed, on_disk = set(_layers()), _modules_on_disk()
    assert not on_disk - listed, f"add these modules to docs/architecture.md: {on_disk - listed}"
    assert not listed - on_disk, f"docs/architecture.md lists modules now gone: {listed - on_disk}"


def _upward(layers: dict[str, int],
            imports: Callable[[str], list[tuple[int, str]]]) -> list[str]:
    """Every import that reaches from a module into a higher layer, as ``module:line`` text."""
    wrong = []
    for module, layer in layers.items():
        for line, name in imports(module):
            target = _owner(name, layers)
            if target is not None and target != module and layers[target] > layer:
                wrong.append(f"{module}:{line} (layer {layer}) imports {target} "
                             f"(layer {layers[target]})")
    return wrong


def test_no_module_imports_from_a_higher_layer() -> None:
    wrong = _upward(_layers(), _imports)
    assert not wrong, "\n".join(wrong)


def test_check_modules_are_leaves() -> None:
    layers = _layers()
    checks = {m for m in layers if m.startswith("wscheck.checks.")}
    wrong = [f"{module}:{line} imports {_owner(name, layers)}"
             for module in checks for line, name in _imports(module)
             if _owner(name, layers) in checks - {module}]
    assert not wrong, "\n".join(wrong)


def test_the_foundation_and_the_model_do_no_io() -> None:
    """Layers 0 and 1 are values and pure functions: nothing there may reach for a socket,
    an event loop or a driver, which is what keeps the model testable exhaustively."""
    forbidden = {"asyncio", "socket", "ssl", "httpx", "httpcore", "wsproto", "anyio", "pytest"}
    wrong = []
    for module, layer in _layers().items():
        if layer > 1:
            continue
        path = ROOT / (module.replace(".", "/") + ".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{module}:{node.lineno} imports {name}" for name in names
                      if name.split(".")[0] in forbidden]
    assert not wrong, "\n".join(wrong)


def test_the_layer_rule_catches_an_upward_import() -> None:
    """The checker itself can fail: the model importing a check (by module or by name) is
    reported, a check importing the model is not."""
    layers = {"wscheck.model": 1, "wscheck.checks.echo": 5}
    imports = {"wscheck.model": [(3, "wscheck.checks.echo.echo_exact"), (4, "wscheck.checks")],
               "wscheck.checks.echo": [(7, "wscheck.model.expected")]}
    assert _upward(layers, imports.__getitem__) == [
        "wscheck.model:3 (layer 1) imports wscheck.checks.echo (layer 5)"]


def test_every_exception_class_derives_from_the_root() -> None:
    """``except WscheckError`` catches everything the kit raises on purpose; anything else
    that escapes is a bug in the kit. Warnings are not errors and stay pytest's."""
    import importlib
    import inspect

    from wscheck.errors import WscheckError

    wrong = []
    for module in _layers():
        if (not module.startswith("wscheck") or module.endswith("__main__")
                or module.startswith("wscheck.load.")):
            continue  # the kit only; Locust's modules patch the process for gevent
        for name, obj in vars(importlib.import_module(module)).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module and not issubclass(obj, Warning)
                    and not issubclass(obj, WscheckError)):
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
