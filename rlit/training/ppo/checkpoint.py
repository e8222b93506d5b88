"""Checkpoints a PPO run can be resumed from, written atomically.

Layout of ``<run>/checkpoints/step-000050/``:

- ``policy/``: ``save_pretrained`` of the policy (LoRA: the adapters) and tokenizer, usable as a model folder;
- ``training.pt``: trainable policy weights, the critic (or value head), optimizer, scheduler and
  RNG states (python, numpy, torch, CUDA);
- ``state.json``: step, data position, KL coefficient, reward-normaliser state, watch state
  (written last: a folder without it is incomplete and ignored).

Each checkpoint is built under a temporary name and renamed into place, and ``checkpoints/latest``
is replaced atomically, so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlit.errors import ConfigError


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only what training changes (all weights, or LoRA's adapters): the rest reloads from the base."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def save_checkpoint(
    run_dir: Path, step: int, *, policy: Any, tokenizer: Any, value_module: torch.nn.Module,
    optimizer: Any, scheduler: Any, state: dict[str, Any], keep: int,
) -> Path:
    """Write checkpoint ``step`` atomically; keep the newest ``keep``. Returns its folder."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    policy.save_pretrained(tmp / "policy")
    tokenizer.save_pretrained(tmp / "policy")
    torch.save({
        "policy": trainable_state(policy), "value": value_module.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(),
    }, tmp / "training.pt")
    _write_json_atomic(tmp / "state.json", {**state, "step": step})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_json_atomic(root / "latest.json", {"step": step, "path": final.name})
    for old in sorted(complete_checkpoints(run_dir))[:-keep] if keep > 0 else []:
        shutil.rmtree(root / f"step-{old:06d}", ignore_errors=True)
    return final


def complete_checkpoints(run_dir: Path) -> list[int]:
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(int(p.name[5:]) for p in root.glob("step-*") if (p / "state.json").is_file() and (p / "training.pt").is_file())


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    steps = complete_checkpoints(run_dir)
    return run_dir / "checkpoints" / f"step-{steps[-1]:06d}" if steps else None


def load_checkpoint(path: Path, *, policy: Any, value_module: torch.nn.Module, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG from ``path``; returns its state.json."""
    try:
        state = json.loads((path / "state.json").read_text())
        blob = torch.load(path / "training.pt", map_location="cpu", weights_only=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read checkpoint: {exc}") from None
    missing = set(blob["policy"]) - set(policy.state_dict())
    if missing:
        raise ConfigError(f"{path}: checkpoint does not match the configured policy (e.g. {sorted(missing)[0]!r})")
    policy.load_state_dict(blob["policy"], strict=False)
    value_module.load_state_dict(blob["value"])
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return state
