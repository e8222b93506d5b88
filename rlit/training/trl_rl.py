"""GRPO and RLOO through TRL's trainers, with rlit's composite reward as the reward function.

The composite (normalisation, vetoes, clipping) is handed to TRL as one reward function (the one
TRL adapter, ``rlit.rewards.trl.TRLRewardFunction``, named ``rlit``); each source's mean and share
reach TRL's logs through the ``log_metric`` keyword TRL passes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from rlit.configfile import AT_LEAST_1, NON_NEGATIVE, POSITIVE, ConfigModel, ConfigPath, Device, ModelName
from rlit.atomic import check_writable, refuse_same_file
from rlit.errors import ConfigError
from rlit.interrupts import keeping
from rlit.lm.loading import load_causal_lm
from rlit.plugins import load_reward
from rlit.rewards.config import InlineReward
from rlit.rewards.trl import TRLRewardFunction
from rlit.training.ppo.data import read_prompt_rows
from rlit.training.sft import save_model
from rlit.training.trl_common import LoraOptions, apply_lora, trl_device_kwargs


class TRLRLConfig(ConfigModel):
    """``rlit train grpo`` / ``rlit train rloo`` config (one file, or a ``[grpo]``/``[rloo]`` table)."""

    model: ModelName = Field(description="Policy: a local folder, a hub id, or a builtin: name.")
    prompts_file: ConfigPath = Field(description="JSONL with `prompt` plus any columns the reward sources read.")
    output_dir: ConfigPath = Field(description="Folder for the trained policy.")
    reward_config: ConfigPath | None = Field(None, description="Path of a reward TOML (docs/reward-config.md).")
    reward: InlineReward | None = Field(None, description="Inline reward config table instead of reward_config (relative paths resolve beside this file).")
    num_generations: Annotated[int, Field(ge=2)] = Field(4, description="Completions sampled per prompt (the group).")
    max_completion_length: Annotated[int, AT_LEAST_1] = Field(64, description="New tokens per completion.")
    max_steps: Annotated[int, AT_LEAST_1] = Field(50, description="Optimiser steps.")
    learning_rate: Annotated[float, POSITIVE] = Field(1e-5, description="Learning rate (TRL's GRPO default is 1e-6).")
    batch_size: Annotated[int, AT_LEAST_1] = Field(4, description="Completions per device per step; a multiple of num_generations.")
    temperature: Annotated[float, POSITIVE] = Field(1.0, description="Sampling temperature.")
    beta: Annotated[float, NON_NEGATIVE] = Field(0.0, description="KL coefficient to the reference model (0 disables the reference).")
    seed: Annotated[int, NON_NEGATIVE] = Field(0, description="Seed.")
    device: Device = Field("auto", description="auto, cpu or cuda.")
    lora: LoraOptions | None = Field(None, description="Train LoRA adapters (merged on save).")
    logging_steps: Annotated[int, AT_LEAST_1] = Field(5, description="Log every N steps.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Further GRPOConfig/RLOOConfig keywords, passed as they are.")


def _dataset(rows: list[dict[str, Any]], conversational: bool) -> tuple[Any, set[str]]:
    """A datasets.Dataset; nested columns travel as JSON strings (Arrow would merge dict keys)."""
    from datasets import Dataset

    json_columns = {k for r in rows for k, v in r.items() if k != "prompt" and isinstance(v, (list, dict))}
    out = []
    for r in rows:
        row = {k: (json.dumps(v) if k in json_columns else v) for k, v in r.items()}
        if conversational:
            row["prompt"] = [{"role": "user", "content": r["prompt"]}]
        out.append(row)
    return Dataset.from_list(out), json_columns


def train_trl_rl(cfg: TRLRLConfig, algorithm: str) -> dict[str, Any]:
    """Train with TRL's GRPOTrainer (``algorithm="grpo"``) or RLOOTrainer (``"rloo"``)."""
    import trl

    if (cfg.reward_config is None) == (cfg.reward is None):
        raise ConfigError(f"{algorithm}: set exactly one of reward_config (a path) or [reward] (a table)")
    composite = load_reward(cfg.reward_config or cfg.reward)
    refuse_same_file({"prompts_file": cfg.prompts_file}, {"output_dir": cfg.output_dir})
    check_writable(cfg.output_dir, "output_dir", folder=True)  # before the model loads
    rows = read_prompt_rows(cfg.prompts_file)
    model, tok = load_causal_lm(cfg.model)
    model.train()
    dataset, json_columns = _dataset(rows, bool(getattr(tok, "chat_template", None)))
    config_cls, trainer_cls = {"grpo": (trl.GRPOConfig, trl.GRPOTrainer), "rloo": (trl.RLOOConfig, trl.RLOOTrainer)}[algorithm]
    try:
        args = config_cls(
            output_dir=str(Path(cfg.output_dir) / "trainer"),
            num_generations=cfg.num_generations,
            max_completion_length=cfg.max_completion_length,
            max_steps=cfg.max_steps,
            learning_rate=cfg.learning_rate,
            per_device_train_batch_size=cfg.batch_size,
            temperature=cfg.temperature,
            beta=cfg.beta,
            seed=cfg.seed,
            logging_steps=cfg.logging_steps,
            save_strategy="no",
            report_to=[],
            **trl_device_kwargs(cfg.device),
            **cfg.extra,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{algorithm}: {exc}") from None
    trainer = trainer_cls(
        model=apply_lora(model, cfg.lora), args=args, train_dataset=dataset, processing_class=tok,
        reward_funcs=[TRLRewardFunction(composite, name="rlit", json_columns=frozenset(json_columns))],
    )
    with keeping(f"{algorithm.upper()} keeps no checkpoints: nothing is saved to {cfg.output_dir} until training ends; rerun to start again"):
        result = trainer.train()
    save_model(trainer.model, tok, cfg.output_dir)
    history = [h for h in trainer.state.log_history if "reward" in h]
    return {"steps": result.global_step, "train_loss": result.training_loss, "log": history}
