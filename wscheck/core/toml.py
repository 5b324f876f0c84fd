"""TOML in and out: a document parsed within bounds, the table a spec is read from, and the
values a spec is written with."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wscheck.core.limits import MAX_INPUT_FILE_BYTES, read_regular_file, toml_shape_problem
from wscheck.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["parse_toml", "read_spec_table", "toml_value"]


def parse_toml(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as TOML, or one :class:`SpecError` line that starts with ``what``.

    Shapes that would exhaust the parser (deep nesting, very long dotted keys) are refused
    before it runs; see :mod:`wscheck.core.limits`.
    """
    problem = toml_shape_problem(text)
    if problem is not None:
        raise SpecError(f"{what} is refused: {problem}")
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{what} is not valid TOML: {exc}") from None
    except RecursionError:  # pragma: no cover - the shape check comes first
        raise SpecError(f"{what} nests too deep") from None
    return data


def read_spec_table(path: str | Path, table: str | None = None) -> tuple[dict[str, Any], str]:
    """The raw table a spec is read from, and how error messages should name it.

    ``table="tool.wscheck"`` reads that sub-table; a file named ``pyproject.toml`` is read
    from its ``[tool.wscheck]`` table. Shared by :func:`~wscheck.core.spec.load_spec` and
    the known-failures loader, which takes ``expected_failures`` out of the same table first.
    """
    path = Path(path)
    if table is None and path.name == "pyproject.toml":
        table = "tool.wscheck"
    text = read_regular_file(path, "spec file", MAX_INPUT_FILE_BYTES, SpecError)
    data: Mapping[str, Any] = parse_toml(text, f"spec file {path}")
    where = str(path)
    if table:
        for part in table.split("."):
            data = data.get(part, {})
            if not isinstance(data, Mapping):
                raise SpecError(f"{where}: [{table}] must be a table")
        where = f"{path} [{table}]"
    return dict(data), where


def toml_value(value: object) -> str:
    """``value`` (a boolean, an integer, a string or a tuple of them) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's, except that TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")  # pragma: no cover - internal
