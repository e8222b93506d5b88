"""`rlit train sft`, `rlit train grpo`, `rlit train rloo` (stages that run on TRL's trainers)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from rlit.cli.app import console, train_app
from rlit.configfile import load_stage

ConfigOption = typer.Option(..., "--config", "-c", help="TOML config (the whole file, or its stage table).", exists=False)
# One --set for every config-driven command (train *, pipeline): rlit.configfile.apply_overrides.
SetOption = typer.Option(
    [], "--set", metavar="KEY=VALUE",
    help="Override a config key (repeatable; dotted keys for tables, e.g. ppo.learning_rate=1e-5; "
         "the value is read as TOML, else as a string); validated like the file.")


@train_app.command("sft")
def sft_command(config: Path = ConfigOption, sets: List[str] = SetOption) -> None:
    """Instruction tuning with TRL's SFTTrainer on prompt/completion JSONL."""
    from rlit.training.sft import SFTStageConfig, train_sft

    cfg = load_stage(SFTStageConfig, config, "sft", sets)
    result = train_sft(cfg)
    console.print(f"SFT done: {result['steps']} steps, train loss {result['train_loss']:.3f}"
                  + (f", eval loss {result['eval_loss']:.3f}" if "eval_loss" in result else "")
                  + f", {result['seconds']:.0f}s -> {cfg.output_dir}")


def _rl(config: Path, algorithm: str, sets: List[str]) -> None:
    from rlit.training.trl_rl import TRLRLConfig, train_trl_rl

    cfg = load_stage(TRLRLConfig, config, algorithm, sets)
    result = train_trl_rl(cfg, algorithm)
    rewards = [h["reward"] for h in result["log"]]
    trend = f", reward {rewards[0]:.3f} -> {rewards[-1]:.3f}" if rewards else ""
    console.print(f"{algorithm.upper()} done: {result['steps']} steps{trend} -> {cfg.output_dir}")


@train_app.command("grpo")
def grpo_command(config: Path = ConfigOption, sets: List[str] = SetOption) -> None:
    """GRPO with TRL's GRPOTrainer, the composite reward as its reward function."""
    _rl(config, "grpo", sets)


@train_app.command("rloo")
def rloo_command(config: Path = ConfigOption, sets: List[str] = SetOption) -> None:
    """RLOO with TRL's RLOOTrainer, the composite reward as its reward function."""
    _rl(config, "rloo", sets)
