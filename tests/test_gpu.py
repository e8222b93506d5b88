"""The training paths on a CUDA GPU: skipped on machines without one (CI). On a GPU machine:
``pytest -m gpu tests/test_gpu.py``. Each test reuses a CPU test's set-up with the device changed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _sibling(name: str):
    """A neighbouring test module (the tests folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_gpu_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pipeline_runs_every_stage_on_the_gpu(tmp_path):
    """SFT (TRL), preference pairs, a transformer reward model (TRL), PPO and both held-out checks."""
    cfg = _sibling("test_pipeline")._config(tmp_path)
    text = cfg.read_text()
    text = text.replace('[preference_pairs]\n', '[preference_pairs]\ndevice = "cuda"\n')
    text = text.replace('kind = "minilm"', 'kind = "transformer"\nbase_model = "builtin:tiny-gpt2"\nepochs = 1\ndevice = "auto"')
    text = text.replace('head_epochs = 5\n', '').replace('device = "cpu"', 'device = "auto"')
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "rlit", "pipeline", "--config", str(cfg)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    run = tmp_path / "run"
    assert json.loads((run / "ppo" / "summary.json").read_text())["device"].startswith("cuda")
    for stage in ("eval-before", "eval-after"):
        manifest = json.loads((run / stage / "results.json").read_text())["manifest"]
        assert manifest["model"]["device"].startswith("cuda"), stage


def test_resume_after_kill_is_bit_exact_on_the_gpu_with_deterministic(tmp_path, tiny_policy_dir):
    resume = _sibling("test_ppo_resume")
    straight = resume.write_run(tmp_path, tiny_policy_dir, "straight", device="cuda", deterministic=True)
    killed = resume.write_run(tmp_path, tiny_policy_dir, "killed", device="cuda", deterministic=True)
    a, b = resume.straight_and_resumed_logs(tmp_path, straight, killed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    assert a == b
    assert json.loads((tmp_path / "killed" / "summary.json").read_text())["device"].startswith("cuda")


def test_reward_rises_on_a_simple_rule_on_the_gpu(tmp_path, tiny_policy_dir, temp_plugin):
    from rlit.training.ppo.trainer import train_ppo

    training = _sibling("test_ppo_training")
    temp_plugin(training.TestPlugin(), "ppo-gpu-test")
    policy = training.peaked_policy(tiny_policy_dir, tmp_path / "peaked")
    prompts = training.write_prompts(tmp_path / "two.jsonl", n=2)
    cfg = training.config(tmp_path, policy, model={"policy": str(policy), "device": "cuda"}, data={"train": str(prompts)},
                          reward={"sources": [{"name": "dot-count"}]}, generation={"max_new_tokens": 8, "temperature": 1.0},
                          ppo={"steps": 30, "batch_size": 8, "ppo_epochs": 4, "learning_rate": 5e-4, "kl_coef": 0.01,
                               "lr_schedule": "constant"},
                          watch={"window": 5})
    summary = train_ppo(cfg)
    assert summary["device"].startswith("cuda")
    assert summary["reward_last"] > summary["reward_first"] + 0.2


def test_accelerate_launch_runs_ppo_on_the_gpu(tmp_path):
    """``accelerate launch`` as the training guide gives it (one process per visible GPU)."""
    _sibling("test_ppo_distributed").write_run(tmp_path)
    gpus = torch.cuda.device_count()
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(gpus), "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "rlit", "train", "ppo", "--config", "run.toml"]
    if gpus > 1:
        cmd[3:3] = ["--multi_gpu"]
    proc = subprocess.run(cmd, cwd=tmp_path, env={**os.environ}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["device"].startswith("cuda") and summary["processes"] == gpus and summary["steps"] == 4
