"""Checkpoints a PPO run can be resumed from: no pickles, written atomically, checked on load.

Layout of ``<run>/checkpoints/step-000050/``:

- ``policy/``: ``save_pretrained`` of the policy (LoRA: the adapters) and tokenizer, usable as a model folder;
- ``tensors.safetensors``: every tensor of the training state: trainable policy weights, the
  critic (or value head), the optimizer's moments, torch's RNG states;
- ``training.json``: the rest of the training state as JSON (optimizer param groups, scheduler,
  python and numpy RNG states), tensors referenced by name;
- ``state.json``: step, data position, KL coefficient, reward-normaliser and watch state, and the
  run's config (what resuming compares against); written last.

Nothing is unpickled: safetensors and JSON only, so a checkpoint folder handed over by someone
else cannot run code. A checkpoint is built under a temporary name and renamed into place, so a
kill at any moment leaves the previous one intact; one that still fails to read (a truncated
file, a disk error) is skipped with a warning for the one before it (:func:`read_newest`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rlit.atomic import write_json
from rlit.errors import ConfigError

TENSORS = "tensors.safetensors"
TRAINING = "training.json"
STATE = "state.json"  # written last: a folder without it is incomplete
LEGACY = "training.pt"  # rlit < 0.x: a pickle, never loaded


class CheckpointError(ConfigError):
    """A checkpoint folder cannot be read (truncated, corrupt, or an old pickle format)."""


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only what training changes (all weights, or LoRA's adapters): the rest reloads from the base."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


# -- a JSON + tensors codec (no pickle) ---------------------------------------------------------


def encode(obj: Any, tensors: dict[str, torch.Tensor], path: str = "t") -> Any:
    """``obj`` as JSON; each tensor moves to ``tensors`` under a name, numpy arrays become lists,
    tuples and dicts with non-string keys (an optimizer's state) are tagged so they come back."""
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()  # clone: safetensors refuses shared storage
        return {"__tensor__": path}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") for k in obj):
            return {k: encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        return {"__items__": [[k, encode(v, tensors, f"{path}.{k}")] for k, v in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} at {path}")


def decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
    if "__tuple__" in obj:
        return tuple(decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {k: decode(v, tensors) for k, v in obj["__items__"]}
    return {k: decode(v, tensors) for k, v in obj.items()}


# -- writing ------------------------------------------------------------------------------------


def save_checkpoint(
    run_dir: Path, step: int, *, policy: Any, tokenizer: Any, value_module: torch.nn.Module,
    optimizer: Any, scheduler: Any, state: dict[str, Any], keep: int,
) -> Path:
    """Write checkpoint ``step`` atomically; keep the newest ``keep``. Returns its folder."""
    from safetensors.torch import save_file

    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    policy.save_pretrained(tmp / "policy")
    tokenizer.save_pretrained(tmp / "policy")
    tensors: dict[str, torch.Tensor] = {}
    training = encode({"policy": trainable_state(policy), "value": value_module.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "rng": rng_state()}, tensors)
    save_file(tensors, str(tmp / TENSORS))
    write_json(tmp / TRAINING, training, indent=None)
    write_json(tmp / STATE, {**state, "step": step})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    write_json(root / "latest.json", {"step": step, "path": final.name})
    for old in sorted(complete_checkpoints(run_dir))[:-keep] if keep > 0 else []:
        shutil.rmtree(root / f"step-{old:06d}", ignore_errors=True)
    return final


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (a power cut after it must not bring the temporary name back)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading ------------------------------------------------------------------------------------


def complete_checkpoints(run_dir: Path) -> list[int]:
    """Steps of the checkpoint folders that finished writing (old pickle ones included: they are
    refused with a message when read, not silently ignored)."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    steps = []
    for p in root.glob("step-*"):
        if p.name[5:].isdigit() and (p / STATE).is_file() and ((p / TENSORS).is_file() or (p / LEGACY).is_file()):
            steps.append(int(p.name[5:]))
    return sorted(steps)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    steps = complete_checkpoints(run_dir)
    return run_dir / "checkpoints" / f"step-{steps[-1]:06d}" if steps else None


@dataclass
class Checkpoint:
    """A checkpoint read into memory (nothing applied yet)."""

    path: Path
    state: dict[str, Any]
    training: dict[str, Any]


def read_checkpoint(path: Path) -> Checkpoint:
    """Read and decode every file of ``path``; a CheckpointError says what is wrong with it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not (path / TENSORS).is_file() and (path / LEGACY).is_file():
        raise CheckpointError(f"{path}: written by an older rlit as a pickle ({LEGACY}); rlit no longer unpickles checkpoints")
    try:
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        training = decode(json.loads((path / TRAINING).read_text(encoding="utf-8")), load_file(str(path / TENSORS)))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(f"{path}: cannot read checkpoint: {type(exc).__name__}: {detail}") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or not all(
            k in training for k in ("policy", "value", "optimizer", "scheduler", "rng")):
        raise CheckpointError(f"{path}: incomplete checkpoint (state.json or {TRAINING} lacks keys)")
    return Checkpoint(path, state, training)


def read_newest(run_dir: Path, warn: Callable[[str], None]) -> Checkpoint | None:
    """The newest checkpoint that reads; each unreadable newer one is reported through ``warn``.
    None when there is none at all; a ConfigError naming the folder when none is usable."""
    steps = complete_checkpoints(run_dir)
    problems = []
    for step in reversed(steps):
        path = run_dir / "checkpoints" / f"step-{step:06d}"
        try:
            return read_checkpoint(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            warn(f"warning: skipping checkpoint {path.name}: {exc}")
    if problems:
        raise ConfigError(f"{run_dir / 'checkpoints'}: no usable checkpoint ({len(problems)} unreadable; newest: {problems[0]})")
    return None


def apply_checkpoint(ckpt: Checkpoint, *, policy: Any, value_module: torch.nn.Module, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG from a read checkpoint; returns its state.json."""
    blob = ckpt.training
    missing = set(blob["policy"]) - set(policy.state_dict())
    if missing:
        raise ConfigError(f"{ckpt.path}: checkpoint does not match the configured policy (e.g. {sorted(missing)[0]!r})")
    try:
        policy.load_state_dict(blob["policy"], strict=False)
        value_module.load_state_dict(blob["value"])
        optimizer.load_state_dict(blob["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{ckpt.path}: checkpoint does not match the configured models: {str(exc).splitlines()[0]}") from None
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return ckpt.state


def load_checkpoint(path: Path, *, policy: Any, value_module: torch.nn.Module, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """Read and apply one checkpoint folder; returns its state.json."""
    return apply_checkpoint(read_checkpoint(path), policy=policy, value_module=value_module, optimizer=optimizer, scheduler=scheduler)
