"""Known failures: check ids expected to fail, so a run stays green until they are fixed.

They come from ``expected_failures = ["id", ...]`` next to the protocol in a spec file or in
``[tool.wscheck]``, and from a plain list file (``--wscheck-xfail FILE``: one id a line, ``#``
comments). The key is split off here, before the rest of the table goes to
:func:`wscheck.core.spec.spec_from_mapping`, which refuses anything that is not protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from wscheck.core.asyncapi_in import is_asyncapi, load_asyncapi
from wscheck.core.limits import (
    MAX_DOCUMENT_BYTES,
    MAX_INPUT_FILE_BYTES,
    printable,
    read_regular_file,
)
from wscheck.core.spec import Spec, SpecError, spec_from_mapping
from wscheck.core.toml import read_spec_table

__all__ = ["KEY", "load_spec_and_known", "read_xfail_file", "unknown_ids"]

KEY = "expected_failures"


def load_spec_and_known(path: str | Path) -> tuple[Spec, tuple[str, ...]]:
    """Read a spec file (``pyproject.toml``: its ``[tool.wscheck]`` table) and its
    ``expected_failures``; errors are one-line :class:`SpecError` messages, as
    :func:`wscheck.core.spec.load_spec` gives. An AsyncAPI 3.0 document (YAML or JSON, told
    by its content) is read by :func:`wscheck.core.asyncapi_in.load_asyncapi` instead; its
    known failures come from ``--wscheck-xfail``."""
    if Path(path).name != "pyproject.toml":
        text = read_regular_file(path, "spec file", MAX_DOCUMENT_BYTES, SpecError)
        if is_asyncapi(text):
            return load_asyncapi(path, text), ()
        if Path(path).suffix.lower() in (".yaml", ".yml", ".json"):
            raise SpecError(f"{path}: is not an AsyncAPI document (no top-level 'asyncapi' "
                            "key), and a spec file that is not one is TOML")
    data, where = read_spec_table(path)
    known = data.pop(KEY, [])
    if not isinstance(known, list) or not all(isinstance(i, str) for i in known):
        raise SpecError(f"{where}: {KEY} must be an array of check ids (strings)")
    return spec_from_mapping(data, where), tuple(known)


def read_xfail_file(path: str | Path) -> tuple[str, ...]:
    """Check ids from a list file: one a line; blank lines and ``#`` comments are ignored."""
    text = read_regular_file(path, "known-failures file", MAX_INPUT_FILE_BYTES, SpecError)
    ids = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line and not line.isprintable():
            raise SpecError(f"known-failures file {path}: line {number} holds a control "
                            f"character: {printable(line)}")
        if line:
            ids.append(line)
    return tuple(ids)


def unknown_ids(ids: Iterable[str], spec: Spec | None = None) -> list[str]:
    """The ids that name no check (of either bundled suite; with ``spec``, an AsyncAPI
    document's checks too, named after its operations)."""
    from wscheck.run.registry import find_check

    return [i for i in ids if find_check(i, spec) is None]
