"""The pipeline's top-level seed: one number derives every stage's seed; a stage's own seed wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlit.errors import ConfigError
from rlit.pipeline import load_pipeline_config, stage_seeds

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart" / "pipeline.toml"
STAGES = ("tiny", "sft", "preference_pairs", "reward_model", "ppo", "heldout")


def test_top_level_seed_reaches_every_stage():
    cfg = load_pipeline_config(QUICKSTART, ["seed=7"])
    assert stage_seeds(cfg) == {stage: 7 for stage in STAGES}


def test_unset_seed_keeps_each_stages_default():
    seeds = stage_seeds(load_pipeline_config(QUICKSTART))
    # the stage configs' own defaults; None = the held-out suite's own seeds apply
    assert seeds == {"tiny": 0, "sft": 0, "preference_pairs": 0, "reward_model": 0, "ppo": 0, "heldout": None}


def test_explicit_stage_seed_wins():
    cfg = load_pipeline_config(QUICKSTART, ["seed=3", "sft.seed=11", "ppo.ppo.seed=12", "tiny.seed=13", "heldout.seed=14"])
    assert stage_seeds(cfg) == {"tiny": 13, "sft": 11, "preference_pairs": 3, "reward_model": 3, "ppo": 12, "heldout": 14}


def test_seed_set_after_loading_reaches_every_stage():
    cfg = load_pipeline_config(QUICKSTART)
    cfg.seed = 5  # what `rlit pipeline --seed 5` does
    assert set(stage_seeds(cfg).values()) == {5}


def test_negative_seed_is_a_config_error():
    with pytest.raises(ConfigError, match="seed"):
        load_pipeline_config(QUICKSTART, ["seed=-1"])


def test_cli_rejects_negative_seed(tmp_path):
    cmd = [sys.executable, "-m", "rlit", "pipeline", "--config", str(QUICKSTART), "--seed", "-1", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2 and "--seed" in proc.stderr + proc.stdout
