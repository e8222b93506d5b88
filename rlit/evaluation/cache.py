"""An append-only on-disk cache (JSON lines), so interrupted runs resume and unchanged work is reused.

Generations are keyed by (model fingerprint, rendered prompt, generation settings, sample index);
scores by (metric spec, plugin versions, prompt, completion, columns). One file per namespace
(e.g. one model + settings), appended after every batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def default_cache_dir() -> Path:
    """``$RLIT_CACHE_DIR``, else ``~/.cache/rlit``."""
    env = os.environ.get("RLIT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rlit"


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


class JsonlCache:
    """key -> JSON value, persisted to ``<root>/<kind>/<namespace>.jsonl``; ``root=None`` keeps it in memory."""

    def __init__(self, root: Path | None, kind: str, namespace: dict[str, Any]):
        self.namespace = digest([kind, namespace])
        self.path = None if root is None else Path(root) / kind / f"{digest(namespace)}.jsonl"
        self.data: dict[str, Any] = {}
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash; the value is recomputed
                self.data[item["k"]] = item["v"]

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def put_many(self, items: dict[str, Any]) -> None:
        self.data.update(items)
        if self.path is None or not items:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            for k, v in items.items():
                f.write(json.dumps({"k": k, "v": v}) + "\n")
