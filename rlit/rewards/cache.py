"""The score cache: re-scoring a row a source has already scored costs a dictionary look-up.

Keys hash (source name and version, options, prompt, completion, the row's other columns), so a
change to any of them is a miss. Values are the source's raw score (``None`` = not applicable).
Failures and ``Unscorable`` rows are never cached. An in-memory LRU sits in front of an optional
sqlite file. The source tag carries a fingerprint of the plugin's code (guard.code_fingerprint),
so editing a plugin under ``pip install -e`` is a miss too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger("rlit.rewards")
_MISSING = object()


def row_key(source_tag: str, options: dict[str, Any], prompt: str, completion: str, columns: dict[str, Any]) -> str:
    """A stable hash of everything a deterministic source's score can depend on."""
    blob = json.dumps([source_tag, options, prompt, completion, columns], sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ScoreCache:
    """LRU of ``key -> float | None`` with ``max_rows`` entries, backed by ``<cache_dir>/scores.sqlite`` if given.

    The sqlite file only saves time, so it never stops a run: a file that is not a database (or
    cannot be opened) is moved aside with a warning and a fresh one started; a stored value that
    is not a finite number or NULL is a miss (warned once) and is rewritten when scored again;
    a database error mid-run turns the file off for the rest of the run, with a warning.
    """

    def __init__(self, max_rows: int = 100_000, cache_dir: str | Path | None = None):
        self.max_rows = max_rows
        self._memory: OrderedDict[str, float | None] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._warned_bad_value = False
        self.hits = 0
        self.misses = 0
        if cache_dir is not None:
            self._db = _open_db(Path(cache_dir))

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
                self._read_disk(rest, found)
            self.hits += len(found)
            self.misses += len(wanted) - len(found)
        return found

    def _read_disk(self, keys: list[str], found: dict[str, float | None]) -> None:
        try:
            for i in range(0, len(keys), 500):  # sqlite's parameter limit
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM scores WHERE key IN ({marks})", chunk):  # type: ignore[union-attr]
                    if not _valid(value):
                        self._bad_value(key, value)
                        continue
                    found[key] = None if value is None else float(value)
                    self._remember(key, found[key])
        except sqlite3.Error as exc:
            self._disk_failed(exc)

    def _bad_value(self, key: str, value: Any) -> None:
        if not self._warned_bad_value:
            self._warned_bad_value = True
            log.warning("score cache: skipping corrupt entries (e.g. %r for key %s...); they are scored again and rewritten", value, key[:12])

    def _disk_failed(self, exc: Exception) -> None:
        log.warning("score cache: the sqlite file failed (%s); going on without it for this run", exc)
        try:
            self._db.close()  # type: ignore[union-attr]
        except sqlite3.Error:
            pass
        self._db = None

    def put_many(self, items: dict[str, float | None]) -> None:
        with self._lock:
            for key, value in items.items():
                self._remember(key, value)
            if self._db is not None and items:
                try:
                    self._db.executemany("INSERT OR REPLACE INTO scores (key, value) VALUES (?, ?)", list(items.items()))
                    self._db.commit()
                except sqlite3.Error as exc:
                    self._disk_failed(exc)

    def _remember(self, key: str, value: float | None) -> None:
        if self.max_rows <= 0:
            return
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_rows:
            self._memory.popitem(last=False)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None


def _valid(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def _open_db(folder: Path) -> sqlite3.Connection | None:
    """The sqlite cache in ``folder``; a corrupt file is moved aside once and a fresh one made."""
    path = folder / "scores.sqlite"
    for attempt in (1, 2):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False)
            # A cache can be rebuilt: skip fsync per commit (it cost ~4x the scoring time of a cheap source).
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value REAL)")
            db.execute("SELECT key, value FROM scores LIMIT 1").fetchall()
            return db
        except sqlite3.DatabaseError as exc:
            if attempt == 2 or not path.is_file():
                break
            aside = path.with_name("scores.sqlite.corrupt")  # one kept for a post-mortem, not one per run
            log.warning("score cache: %s is corrupt (%s); moved it to %s and starting a fresh cache", path, exc, aside.name)
            try:
                os.replace(path, aside)
                for extra in ("-wal", "-shm"):
                    Path(f"{path}{extra}").unlink(missing_ok=True)
            except OSError:
                break
        except OSError as exc:
            log.warning("score cache: cannot use %s (%s); scores are cached in memory only", folder, exc)
            return None
    log.warning("score cache: cannot use %s; scores are cached in memory only", path)
    return None
