"""The hostile-input catalogue's harness: a case is an `rlit` command line run in its own folder.

Each case runs in process through ``rlit.cli.main`` (the console script's entry point) with the
folder as working directory and its own cache folder, then the test asserts the exit code, that
one line of stderr matches the case's message (naming the culprit), that no traceback was
printed, and that the files the case lists as ``keep`` are byte-identical to before the run.

Placeholders in ``args``: ``{d}`` the case's folder, ``{model}`` a tiny GPT-2 causal LM folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class Case:
    """One hostile input: what to run, and what rlit must answer."""

    id: str
    args: list[str]
    code: int
    message: str  # a regex that one line of stderr must match
    setup: Callable[[Path, Path], None] | None = None  # setup(folder, tiny_model_folder) writes inputs
    keep: tuple[str, ...] = ()  # files (relative to the folder) that must be unchanged after the run
    check: Callable[[Path], None] | None = None  # more assertions on the folder after the run
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables for the run


def write(folder: Path, name: str, text: str | bytes) -> Path:
    """Write ``text`` (or bytes) to ``folder/name``, creating parent folders."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSONL (``ensure_ascii`` so lone surrogates survive as escapes)."""
    return write(folder, name, "".join(json.dumps(r) + "\n" for r in rows))


# A reward config every case may use: first-party rule sources only (no model to load).
RULES_REWARD = """
[[sources]]
name = "length"
options = { min = 2, max = 40 }
"""
