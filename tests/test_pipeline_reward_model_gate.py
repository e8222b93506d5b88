"""[reward_model_gate]: PPO trains against the pipeline's reward model only if it beats chance on
its held-out pairs (exact one-sided binomial test); otherwise its sources leave the PPO reward."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rlit.errors import ConfigError
from rlit.pipeline import load_pipeline_config, reward_model_check
from tests.test_pipeline import _config


@pytest.mark.parametrize(("accuracy", "n", "p_value", "used"), [
    (1.0, 12, 0.5 ** 12, True),
    (10 / 12, 12, 79 / 4096, True),       # P(X >= 10), X ~ Binomial(12, 0.5)
    (9 / 12, 12, 299 / 4096, False),      # 0.073 > 0.05
    (0.5, 12, 2510 / 4096, False),
    (0.25, 12, 4017 / 4096, False),
    (0.0, 0, 1.0, False),                 # no held-out pairs: no evidence
    (float("nan"), 0, 1.0, False),
])
def test_check_is_an_exact_one_sided_binomial_test(accuracy, n, p_value, used):
    check = reward_model_check(accuracy, n, 0.95)
    assert check["p_value"] == pytest.approx(p_value)
    assert check["used"] is used


def test_confidence_sets_the_bar():
    assert reward_model_check(9 / 12, 12, 0.9)["used"] is True
    assert reward_model_check(9 / 12, 12, 0.95)["used"] is False


def test_gate_needs_the_reward_model_stage(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('base_model = "m"\n[reward_model_gate]\nconfidence = 0.95\n')
    with pytest.raises(ConfigError, match=r"\[reward_model_gate\] needs"):
        load_pipeline_config(cfg)


def test_gate_that_would_leave_no_reward_fails_at_load(tmp_path):
    cfg = _config(tmp_path)
    text = cfg.read_text().replace('[[ppo.reward.sources]]\nname = "ifeval"\noptions = { mode = "loose", reward = "fraction" }\n', "")
    cfg.write_text(text + "[reward_model_gate]\n")
    with pytest.raises(ConfigError, match=r"\[reward_model_gate\] failing: \[ppo.reward\] sources: every source uses '@reward_model'"):
        load_pipeline_config(cfg)


def test_confidence_out_of_range_names_the_key(tmp_path):
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + "[reward_model_gate]\nconfidence = 0.4\n")
    with pytest.raises(ConfigError, match="confidence"):
        load_pipeline_config(cfg)


def test_a_reward_model_at_chance_leaves_the_ppo_reward(tmp_path):
    """The toy reward model is judged on 3 held-out pairs: at most p = 0.125, so a 0.95 gate drops it."""
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + "[reward_model_gate]\nconfidence = 0.95\n")
    proc = subprocess.run([sys.executable, "-m", "rlit", "pipeline", "--config", str(cfg)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "the reward model is NOT used in the PPO reward" in " ".join(proc.stdout.split())
    run = tmp_path / "run"
    gate = json.loads((run / "summary.json").read_text())["reward_model_gate"]
    assert gate["used"] is False and gate["p_value"] > 0.05
    steps = [json.loads(line) for line in (run / "ppo" / "steps.jsonl").read_text().splitlines()]
    assert steps and all(set(s["reward/sources"]) == {"ifeval"} for s in steps)
    # a rerun reaches the same verdict and finds PPO's config unchanged
    again = subprocess.run([sys.executable, "-m", "rlit", "pipeline", "--config", str(cfg)], capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("done in an earlier run") == 7


def test_a_reward_model_that_beats_chance_stays_in_the_reward(tmp_path):
    """The passing side: the gate's verdict is logged and the PPO config keeps the reward-model source."""
    from rlit.pipeline import Pipeline, _ppo_run_config

    cfg_file = _config(tmp_path)
    cfg_file.write_text(cfg_file.read_text() + "[reward_model_gate]\n")
    cfg = load_pipeline_config(cfg_file)
    lines: list[str] = []
    check = Pipeline(cfg, log=lines.append)._gate({"model": "rm", "accuracy": 11 / 12, "n_eval": 12})
    assert check["used"] is True and check["wins"] == 11
    assert "the reward model is used in the PPO reward" in lines[0] and "0.917 on 12 pairs" in lines[0]
    kept = _ppo_run_config(cfg, "policy", str(tmp_path / "ppo"), "rm-folder", drop_reward_model=not check["used"])
    assert [s["name"] for s in kept.reward["sources"]] == ["ifeval", "reward-model"]
    assert kept.reward["sources"][1]["options"]["model"] == "rm-folder"
    dropped = _ppo_run_config(cfg, "policy", str(tmp_path / "ppo"), "rm-folder", drop_reward_model=True)
    assert [s["name"] for s in dropped.reward["sources"]] == ["ifeval"]
