"""Prompt sets: a JSONL file (path relative to the suite file) or ``scheme:spec`` from a plugin.

Rows are dicts with a ``prompt`` string plus any columns (``key``, ``category``, ``group``,
``instruction_id_list``, ``kwargs``...); every column except ``prompt`` reaches the reward sources.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError, DataError, PluginError
from rlit.evaluation.selection import select_rows
from rlit.jsonl import parse_json_line
from rlit.plugins import get_registry, unknown_name_message

_SCHEME = re.compile(r"^([a-z][a-z0-9_+-]*):(?!//)(.+)$")


@dataclass
class PromptSet:
    rows: list[dict[str, Any]]
    source: str  # the file path or "scheme:spec"
    sha256: str  # hash of the file bytes (or of the loaded rows for a plugin set)
    selection: dict[str, Any] | None = None  # how a limit chose the rows (None: all rows)


def row_key(row: dict[str, Any]) -> str:
    """A stable key per prompt: the row's ``key`` column, else a hash of the prompt text."""
    if row.get("key") is not None:
        return str(row["key"])
    return "p-" + hashlib.sha256(row["prompt"].encode()).hexdigest()[:12]


def load_prompt_set(spec: str, base_dir: str | Path = ".", limit: int | None = None, group: str | None = None,
                    by: str | None = None, groups_only: bool = False) -> PromptSet:
    """Rows of a prompt set; missing/malformed data raises DataError naming file and line.

    ``limit`` keeps at most that many rows, chosen by ``rlit.evaluation.selection.select_rows``
    (whole ``group`` groups, round-robin over the ``by`` column)."""
    match = _SCHEME.match(spec)
    if match and not (Path(base_dir) / spec).exists():
        rows, source, digest = _from_plugin(match.group(1), match.group(2))
    else:
        rows, source, digest = _from_jsonl(Path(base_dir) / spec)
    keys = [row_key(r) for r in rows]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DataError(f"{source}: duplicate prompt key {dup!r}")
    for r, k in zip(rows, keys):
        r["key"] = k
    rows, how = select_rows(rows, limit, group, by, groups_only)
    return PromptSet(rows, source, digest, how)


def _from_jsonl(path: Path) -> tuple[list[dict], str, str]:
    path = path.resolve()
    if not path.is_file():
        raise DataError(f"prompt set not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line_no}: not UTF-8 text (byte {exc.start})") from None
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = parse_json_line(line, f"{path}:{n}")
        _check_row(row, f"{path}:{n}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no prompts")
    return rows, str(path), hashlib.sha256(raw).hexdigest()[:16]


def _from_plugin(scheme: str, spec: str) -> tuple[list[dict], str, str]:
    registry = get_registry()
    loader = registry.prompt_sets.get(scheme)
    if loader is None:
        raise ConfigError(unknown_name_message("prompt-set scheme", scheme, registry.prompt_sets))
    source = f"{scheme}:{spec}"
    try:
        rows = list(loader(spec))
    except (DataError, ConfigError, PluginError):
        raise
    except Exception as exc:
        raise PluginError(f"prompt-set loader {scheme!r} failed on {spec!r}: {type(exc).__name__}: {exc}") from None
    for n, row in enumerate(rows, start=1):
        _check_row(row, f"{source} row {n}")
    if not rows:
        raise DataError(f"{source}: no prompts")
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return rows, source, digest


def _check_row(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise DataError(f"{where}: a row must be a JSON object")
    if not isinstance(row.get("prompt"), str):
        raise DataError(f"{where}: missing string field 'prompt'")


def columns_of(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Every column except ``prompt`` as lists, for ``RewardSource.score(**columns)``."""
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r if k != "prompt" and k not in names)
    return {k: [r.get(k) for r in rows] for k in names}
