"""FastAPI's own WebSocket tutorial apps, taken from the sdist of the installed fastapi.

Nothing of FastAPI's is kept in this repository: the first test that needs a tutorial
downloads the source distribution of exactly the fastapi version installed here (``pip
download --no-deps --no-binary :all: fastapi==X``), once per test session, and loads
``docs_src/websockets_/tutorialNNN.py`` from it as a fresh module each time, so that a
module-level state (tutorial003's ``ConnectionManager``) never outlives one test.

When the download is impossible (no network, no index) the tests that need a tutorial are
skipped with one line saying why, except under ``CI=true``, where they fail: CI must check
the real files.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import fastapi
import pytest

__all__ = ["TUTORIALS", "Tutorials", "fetch_tutorials", "in_ci"]

#: The tutorial files the tests load, as they are named inside the sdist.
TUTORIALS = ("tutorial001", "tutorial002", "tutorial003")

#: Where the WebSocket tutorials sit inside fastapi's sdist.
DOCS_DIR = "docs_src/websockets_"

#: How long the download may take before it counts as impossible.
DOWNLOAD_SECONDS = 180

_fresh = itertools.count()


def in_ci() -> bool:
    """Whether this run is CI's, where a missing piece fails instead of skipping."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


class Tutorials:
    """The tutorial files of one fastapi sdist, extracted under ``root``."""

    def __init__(self, root: Path, version: str) -> None:
        self.root = root
        self.version = version

    def path(self, name: str) -> Path:
        return self.root / DOCS_DIR / f"{name}.py"

    def source(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def load(self, name: str) -> ModuleType:
        """A fresh module made from ``name``'s file (its own module-level state)."""
        path = self.path(name)
        module_name = f"fastapi_docs_{name}_{next(_fresh)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def app(self, name: str) -> Any:
        return self.load(name).app


def _download(directory: Path, version: str) -> Path | str:
    """The sdist's path, or one line saying why it could not be had."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", "--disable-pip-version-check",
               f"fastapi=={version}", "-d", str(directory)]
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=DOWNLOAD_SECONDS)
    except subprocess.TimeoutExpired:
        return f"pip download fastapi=={version} took over {DOWNLOAD_SECONDS}s"
    archives = sorted(directory.glob("fastapi-*.tar.gz"))
    if result.returncode != 0 or not archives:
        lines = [ln for ln in (result.stderr or result.stdout).splitlines()
                 if ln.strip() and "is ignored" not in ln]
        why = lines[-1].strip() if lines else f"exit status {result.returncode}"
        return f"could not download the sdist of fastapi=={version}: {why}"
    return archives[0]


def fetch_tutorials(directory: Path) -> Tutorials | str:
    """Download and extract the installed fastapi's sdist into ``directory``: the tutorials,
    or one line saying why they could not be had."""
    version = fastapi.__version__
    got = _download(directory, version)
    if isinstance(got, str):
        return got
    root = directory / "sdist"
    with tarfile.open(got) as archive:
        members = [m for m in archive.getmembers()
                   if f"/{DOCS_DIR}/" in m.name and m.isfile() and m.name.endswith(".py")]
        if not members:
            return f"fastapi {version}'s sdist has no {DOCS_DIR}/"
        for member in members:
            # Only the tutorial sources, each under root by its base name: no path from the
            # archive decides where a file is written.
            extracted = archive.extractfile(member)
            assert extracted is not None
            target = root / DOCS_DIR / Path(member.name).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(extracted.read())
    tutorials = Tutorials(root, version)
    absent = [n for n in TUTORIALS if not tutorials.path(n).is_file()]
    if absent:
        return f"fastapi {version}'s sdist has no {DOCS_DIR}/{absent[0]}.py"
    return tutorials


@pytest.fixture(scope="session")
def fastapi_tutorials(tmp_path_factory: pytest.TempPathFactory) -> Tutorials:
    """FastAPI's WebSocket tutorials from the installed version's sdist (see the module
    docstring): skipped with the reason when they cannot be had, failed under ``CI=true``."""
    got = fetch_tutorials(tmp_path_factory.mktemp("fastapi-sdist"))
    if isinstance(got, str):
        if in_ci():
            pytest.fail(f"CI=true: {got}", pytrace=False)
        pytest.skip(got)
    return got
