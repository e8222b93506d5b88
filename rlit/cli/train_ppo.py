"""``rlit train ppo``: rlit's own PPO on the composite reward (docs/training-ppo.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from rlit.cli.app import console, train_app
from rlit.cli.train_trl import SetOption


@train_app.command("ppo")
def ppo_command(
    config: Path = typer.Option(..., "--config", "-c", help="TOML file; every key is documented in docs/training-ppo.md."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in the run folder (output.dir)."),
    accept_config_change: bool = typer.Option(
        False, "--accept-config-change",
        help="With --resume: continue even though the config differs from the checkpoint's in a key it fixes; the run uses the new values and records the change."),
    sets: list[str] = SetOption,
) -> None:
    """PPO with the composite reward from installed plugins; logs, checkpoints, evaluates and watches for reward hacking."""
    from rlit.training.ppo import load_ppo_config, train_ppo

    cfg = load_ppo_config(config, sets)
    train_ppo(cfg, resume=resume, console=console, accept_config_change=accept_config_change)
