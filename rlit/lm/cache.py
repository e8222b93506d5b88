"""An append-only on-disk cache (JSON lines), so interrupted runs resume and unchanged work is reused.

Generations are keyed by (model fingerprint, rendered prompt, generation settings, sample index);
scores by (metric spec, plugin versions, prompt, completion, columns). One file per namespace
(e.g. one model + settings), appended after every batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from rlit.atomic import write_text

log = logging.getLogger("rlit.evaluation")


def default_cache_dir() -> Path:
    """``$RLIT_CACHE_DIR``, else ``~/.cache/rlit``."""
    env = os.environ.get("RLIT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rlit"


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


class JsonlCache:
    """key -> JSON value, persisted to ``<root>/<kind>/<namespace>.jsonl``; ``root=None`` keeps it in memory."""

    def __init__(self, root: Path | None, kind: str, namespace: dict[str, Any], valid: Callable[[Any], bool] | None = None):
        self.valid = valid  # the shape a value must have; other lines count as damaged
        self.namespace = digest([kind, namespace])
        self.path = None if root is None else Path(root) / kind / f"{digest(namespace)}.jsonl"
        self.data: dict[str, Any] = {}
        self.stored = 0  # values put during this run (computed, not read back)
        if self.path is not None and self.path.is_file():
            try:
                self._load(self.path)
            except OSError as exc:
                log.warning("cache %s: unreadable (%s); its values will be recomputed", self.path, exc.strerror or exc)

    def _load(self, path: Path) -> None:
        """Read every good line; a damaged file (a line cut by a crash, bytes that are not UTF-8,
        JSON of another shape) loses only its bad lines, is rewritten without them, and says so."""
        good, bad = [], 0
        for raw in path.read_bytes().splitlines():
            item = _entry(raw)
            if item is None or (self.valid is not None and not self.valid(item["v"])):
                bad += raw.strip() != b""
                continue
            self.data[item["k"]] = item["v"]
            good.append(raw.decode("utf-8"))
        if bad:
            log.warning("cache %s: skipped %d damaged line(s); those values will be recomputed", path, bad)
            write_text(path, "".join(line + "\n" for line in good))

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def put_many(self, items: dict[str, Any]) -> None:
        self.data.update(items)
        self.stored += len(items)
        if self.path is None or not items:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write("".join(json.dumps({"k": k, "v": v}, allow_nan=True) + "\n" for k, v in items.items()))
        except OSError as exc:  # a full disk must not stop the run: the values stay in memory
            log.warning("cache %s: not written (%s); this run goes on without saving to it", self.path, exc.strerror or exc)
            self.path = None


def _entry(raw: bytes) -> dict[str, Any] | None:
    """One cache line as ``{"k": str, "v": ...}``, or None when it is anything else."""
    try:
        item = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(item, dict) or set(item) != {"k", "v"} or not isinstance(item["k"], str):
        return None
    return item
