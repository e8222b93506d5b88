"""What a checkpoint fixes: the config it was made with, compared with the config of a resume.

A resumed run must be the run that was checkpointed. Every key is fixed by the checkpoint except
the few in :data:`SAFE_TO_CHANGE` (how long to run, where and how often to log, save and
evaluate); a difference anywhere else stops ``--resume`` with a ConfigError naming each key and
both values, unless ``--accept-config-change`` is given: then the run continues with the new
values, says so, and records the change (``config-changes.json`` in the run folder and every
later checkpoint).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rlit.configfile import read_toml
from rlit.errors import ConfigError
from rlit.training.ppo.config import PPORunConfig

# Keys a resume may change. steps: run longer or shorter (the linear schedule then decays over
# the new total); the rest only decide what is logged, saved or evaluated and where.
SAFE_TO_CHANGE = frozenset({
    "source", "ppo.steps", "model.device",
    "output.dir", "output.save_every", "output.keep_checkpoints", "output.eval_every", "output.log_samples",
    "eval.limit", "watch.max_source_share", "watch.min_reward_rise", "watch.min_metric_drop", "watch.window",
})


def fingerprint(cfg: PPORunConfig) -> dict[str, Any]:
    """The config as flat ``table.key`` values, with the reward config's contents (not its path)
    and the prompt files' hashes, so an edited reward file or data file counts as a change."""
    flat: dict[str, Any] = {}
    for table, value in cfg.to_dict().items():
        if isinstance(value, dict) and table != "reward":
            flat.update({f"{table}.{k}": v for k, v in value.items()})
        else:
            flat[table] = value
    if isinstance(cfg.reward, str):
        flat["reward"] = read_toml(cfg.reward)
    for key in ("train", "sft"):
        path = getattr(cfg.data, key)
        if path and Path(path).is_file():
            flat[f"data.{key}_sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return json.loads(json.dumps(flat, default=str))  # as it reads back from state.json


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, checkpoint value, config value) for every fixed key that differs."""
    keys = sorted((recorded.keys() | current.keys()) - SAFE_TO_CHANGE)
    return [(k, recorded.get(k), current.get(k)) for k in keys if recorded.get(k) != current.get(k)]


def describe(key: str) -> str:
    table, _, name = key.partition(".")
    return f"[{table}] {name}" if name else key


def check_resume(recorded: dict[str, Any] | None, cfg: PPORunConfig, step: int, accept: bool) -> list[dict[str, Any]]:
    """The accepted changes (empty when none); a ConfigError when the config differs and ``accept`` is off."""
    if recorded is None:
        return []
    changes = differences(recorded, fingerprint(cfg))
    if changes and not accept:
        shown = "; ".join(f"{describe(k)}: checkpoint {_short(old)}, config {_short(new)}" for k, old, new in changes[:4])
        more = f" (and {len(changes) - 4} more)" if len(changes) > 4 else ""
        raise ConfigError(f"{cfg.source}: --resume: the config differs from the one checkpoint step {step} was made with: "
                          f"{shown}{more}; restore those values, or pass --accept-config-change to continue with the new ones")
    return [{"step": step, "key": k, "checkpoint": old, "config": new} for k, old, new in changes]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
