"""The score cache: re-scoring a row a source has already scored costs a dictionary look-up.

Keys hash (source name and version, options, prompt, completion, the row's other columns), so a
change to any of them is a miss. Values are the source's raw score (``None`` = not applicable).
Failures are never cached. An in-memory LRU sits in front of an optional sqlite file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable

_MISSING = object()


def row_key(source_tag: str, options: dict[str, Any], prompt: str, completion: str, columns: dict[str, Any]) -> str:
    """A stable hash of everything a deterministic source's score can depend on."""
    blob = json.dumps([source_tag, options, prompt, completion, columns], sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ScoreCache:
    """LRU of ``key -> float | None`` with ``max_rows`` entries, backed by ``<cache_dir>/scores.sqlite`` if given."""

    def __init__(self, max_rows: int = 100_000, cache_dir: str | Path | None = None):
        self.max_rows = max_rows
        self._memory: OrderedDict[str, float | None] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        if cache_dir is not None:
            path = Path(cache_dir)
            path.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path / "scores.sqlite", check_same_thread=False)
            # A cache can be rebuilt: skip fsync per commit (it cost ~4x the scoring time of a cheap source).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value REAL)")

    def get_many(self, keys: Iterable[str]) -> dict[str, float | None]:
        """The cached values among ``keys`` (absent keys are misses)."""
        found: dict[str, float | None] = {}
        wanted = list(keys)
        with self._lock:
            for key in wanted:
                value = self._memory.get(key, _MISSING)
                if value is not _MISSING:
                    self._memory.move_to_end(key)
                    found[key] = value  # type: ignore[assignment]
            rest = [k for k in wanted if k not in found]
            if self._db is not None and rest:
                for i in range(0, len(rest), 500):  # sqlite's parameter limit
                    chunk = rest[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    for key, value in self._db.execute(f"SELECT key, value FROM scores WHERE key IN ({marks})", chunk):
                        found[key] = value
                        self._remember(key, value)
            self.hits += len(found)
            self.misses += len(wanted) - len(found)
        return found

    def put_many(self, items: dict[str, float | None]) -> None:
        with self._lock:
            for key, value in items.items():
                self._remember(key, value)
            if self._db is not None and items:
                self._db.executemany("INSERT OR REPLACE INTO scores (key, value) VALUES (?, ?)", list(items.items()))
                self._db.commit()

    def _remember(self, key: str, value: float | None) -> None:
        if self.max_rows <= 0:
            return
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_rows:
            self._memory.popitem(last=False)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
