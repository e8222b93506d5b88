"""The ``rlit-reward-model.json`` manifest every trained reward-model folder carries.

It says what the folder is (``kind``: ``transformer`` or ``minilm``), what it was trained from
(base model, data hash), how it formats text (separator, chat template, truncation side, maximum
length) and how well it did (held-out pairwise accuracy). The ``reward-model`` source reads it to
score text exactly as training saw it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rlit.atomic import write_text
from rlit.errors import ConfigError

MANIFEST = "rlit-reward-model.json"
KINDS = ("transformer", "minilm")


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    import rlit

    if manifest.get("kind") not in KINDS:
        raise ValueError(f"manifest kind must be one of {KINDS}, got {manifest.get('kind')!r}")
    data = {"format_version": 1, "rlit_version": rlit.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **manifest}
    path = Path(folder) / MANIFEST
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")  # atomic, and written last: it marks the folder usable
    return path


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (a plain Hugging Face classifier folder)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if data.get("kind") not in KINDS:
        raise ConfigError(f"{path}: key 'kind' must be one of {', '.join(KINDS)}, got {data.get('kind')!r}")
    return data
