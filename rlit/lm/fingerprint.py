"""Content fingerprints of model weights, for cache keys and manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


FINGERPRINT_FILE = "rlit-fingerprint.json"




def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))


def write_fingerprint(folder: Path, fingerprint: str) -> None:
    stats = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in weight_files(folder)}
    (folder / FINGERPRINT_FILE).write_text(json.dumps({"float32": fingerprint, "weight_files": stats}))


def model_fingerprint(model: Any) -> str:
    """A content hash of a model's weights (sha256 over parameter bytes), for caches and manifests."""
    import torch

    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
