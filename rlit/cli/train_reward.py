"""`rlit train reward-model` and `rlit train preference-pairs`."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from rlit.cli.app import console, log_line, train_app
from rlit.cli.train_trl import SetOption


@train_app.command("reward-model")
def reward_model_command(
    config: Path = typer.Option(..., "--config", "-c", help="TOML file; keys documented in docs/training-reward-model.md."),
    sets: List[str] = SetOption,
) -> None:
    """Train a reward model (kind = "minilm" or "transformer") on preference pairs; print held-out accuracy."""
    from rlit.training.reward_model import load_reward_model_config, train_reward_model

    cfg = load_reward_model_config(config, sets=sets)
    result = train_reward_model(cfg, log=log_line)
    console.print(
        f"[bold]reward model[/] {result.kind}: held-out pairwise accuracy [bold]{result.accuracy:.3f}[/] "
        f"({result.n_eval} pairs), {result.n_train} training pairs, {result.dropped_for_length} dropped and "
        f"{result.truncated_for_length} truncated for length"
        + (f", {result.dropped_identical} dropped as chosen == rejected" if result.dropped_identical else "")
        + f", {result.seconds:.1f} s -> {result.output_dir}",
        highlight=False,
    )


@train_app.command("preference-pairs")
def preference_pairs_command(
    config: Path = typer.Option(..., "--config", "-c", help="TOML file; keys documented in docs/training-reward-model.md."),
    sets: List[str] = SetOption,
) -> None:
    """Build chosen/rejected pairs by ranking candidate completions with installed reward sources."""
    from rlit.training.preference_pairs import build_preference_pairs, load_preference_pairs_config

    cfg = load_preference_pairs_config(config, sets=sets)
    result = build_preference_pairs(cfg, log=log_line)
    console.print(
        f"[bold]preference pairs[/]: {result.pairs_written} written to {result.output_file} from {result.prompts_done} prompts "
        f"({result.ties} ties / under min_margin, {result.unscored} without two scored candidates, {result.resumed} resumed)",
        highlight=False,
    )
