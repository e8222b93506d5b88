"""Reading JSONL input files with errors that name the file and line."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rlit.errors import DataError


def parse_json_line(line: str, where: str) -> dict[str, Any]:
    """One JSONL line as a JSON object; anything else is a DataError naming ``where`` (file:line)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: invalid JSON: {exc.msg}") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if _SURROGATE_ESCAPE.search(line):
        check_text(row, where)
    return row


# JSON can spell a UTF-16 surrogate as an escape; alone (not in a pair) it is no character at all,
# and writing it back as UTF-8 (outputs, caches, reports) fails far from the line that held it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_text(value: Any, where: str, key: str = "") -> None:
    """Every string in ``value`` (nested) must be valid Unicode: a lone surrogate is a DataError
    naming ``where`` and the key that holds it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DataError(f"{where}: {key or 'value'}: invalid Unicode (lone surrogate {value[exc.start]!r} at character {exc.start})") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(k, where, key)
            check_text(v, where, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_text(v, where, f"{key}[{i}]")


def read_rows(path: str | Path, required: tuple[str, ...] = (), what: str = "rows") -> list[dict[str, Any]]:
    """Every JSON object of a JSONL file; each must hold a string in every ``required`` column.

    Blank lines are skipped; a missing file, bad JSON, a non-object line, a missing column or an
    empty file is a DataError naming ``file:line``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    rows = []
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = parse_json_line(line, f"{p}:{n}")
            for column in required:
                if not isinstance(row.get(column), str):
                    raise DataError(f"{p}:{n}: missing or non-string column {column!r}")
            rows.append(row)
    if not rows:
        raise DataError(f"{p}: no {what}")
    return rows


def json_safe(value: Any) -> Any:
    """``value`` with every NaN/inf float (nested in dicts, lists, tuples) as None: strict JSON
    readers reject NaN, and "no score" is null in every file rlit writes."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
