"""Kill -9 a real PPO run after a checkpoint, resume it, and compare its step log with a straight run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from rlit.training.ppo.steplog import read_steps, without_timings

PLUGIN = '''
import rlit

class VowelShare(rlit.RewardSource):
    """Share of letters that are vowels (a cheap deterministic rule)."""
    name = "vowel-share"
    def score(self, prompts, completions, **columns):
        out = []
        for c in completions:
            letters = [ch for ch in c.lower() if ch.isalpha()]
            out.append(sum(ch in "aeiou" for ch in letters) / len(letters) if letters else None)
        return out

class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(VowelShare)
'''

DRIVER = '''
import sys
sys.path.insert(0, sys.argv[1])
import ppo_test_plugin
from rlit.plugins import get_registry
from rlit.training.ppo import train_ppo
get_registry().add_plugin(ppo_test_plugin.Plugin(), "ppo-test-plugin", distribution=None, version=None)
train_ppo(sys.argv[2], resume=sys.argv[3] == "resume")
'''


def write_run(tmp: Path, policy: Path, out: str, device: str = "cpu", deterministic: bool = False) -> Path:
    (tmp / "ppo_test_plugin.py").write_text(PLUGIN)
    (tmp / "driver.py").write_text(DRIVER)
    with (tmp / "prompts.jsonl").open("w") as fh:
        for i in range(10):
            fh.write(json.dumps({"prompt": f"Tell me about item {i}.", "topic": f"t{i % 3}"}) + "\n")
    with (tmp / "demos.jsonl").open("w") as fh:  # PPO-ptx demonstrations: their position must resume too
        for i in range(5):
            fh.write(json.dumps({"prompt": f"Tell me about item {i}.", "completion": f"Item {i} is fine."}) + "\n")
    cfg = tmp / f"{out}.toml"
    cfg.write_text(textwrap.dedent(f"""
        [model]
        policy = "{policy}"
        device = "{device}"
        [data]
        train = "prompts.jsonl"
        sft = "demos.jsonl"
        [generation]
        max_new_tokens = 6
        temperature = 1.0
        [ppo]
        steps = 6
        batch_size = 4
        mini_batches = 2
        ppo_epochs = 2
        learning_rate = 1e-3
        adaptive_kl = true
        seed = 3
        deterministic = {str(deterministic).lower()}
        ptx_coef = 0.5
        ptx_batch_size = 3
        [output]
        dir = "{out}"
        save_every = 2
        [[reward.sources]]
        name = "vowel-share"
        normalize = "running"
    """))
    return cfg


def launch(tmp: Path, cfg: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, str(tmp / "driver.py"), str(tmp), str(cfg), "resume" if resume else "fresh"],
                            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    return out


def straight_and_resumed_logs(tmp: Path, straight: Path, killed: Path) -> tuple[list[dict], list[dict]]:
    """Run ``straight`` to the end; run ``killed``, kill -9 it once step 3 is logged, resume it.
    Returns both step logs without their timings."""
    finish(launch(tmp, straight, resume=False))
    proc = launch(tmp, killed, resume=False)
    log = tmp / killed.stem / "steps.jsonl"
    deadline = time.time() + 600
    # Kill once step 3 is logged: the checkpoint of step 2 exists and step 3 is work the resume must redo.
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and any(json.loads(l)["step"] >= 3 for l in log.read_text().splitlines() if l.strip().endswith("}")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert (tmp / killed.stem / "checkpoints" / "step-000002" / "state.json").is_file()

    out = finish(launch(tmp, killed, resume=True))
    assert "resuming from" in out
    assert json.loads((tmp / killed.stem / "summary.json").read_text())["steps"] == 6
    return ([without_timings(r) for r in read_steps(tmp / straight.stem / "steps.jsonl")],
            [without_timings(r) for r in read_steps(log)])


def test_resume_after_kill_reproduces_the_straight_run(tmp_path, tiny_policy_dir):
    straight = write_run(tmp_path, tiny_policy_dir, "straight")
    killed = write_run(tmp_path, tiny_policy_dir, "killed")
    a, b = straight_and_resumed_logs(tmp_path, straight, killed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    assert a == b  # same data order, samples, rewards, losses: bit for bit


def test_fresh_start_refuses_to_overwrite_checkpoints(tmp_path, tiny_policy_dir):
    import pytest

    from rlit.errors import ConfigError
    from rlit.training.ppo.config import load_ppo_config
    from rlit.training.ppo.trainer import PPOTrainer

    cfg = write_run(tmp_path, tiny_policy_dir, "run")
    done = tmp_path / "run" / "checkpoints" / "step-000002"
    done.mkdir(parents=True)
    (done / "state.json").write_text("{}")
    (done / "tensors.safetensors").write_text("")
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        PPOTrainer(load_ppo_config(cfg), reward=object())


def test_incomplete_checkpoints_are_ignored(tmp_path):
    from rlit.training.ppo.checkpoint import latest_checkpoint

    root = tmp_path / "checkpoints"
    (root / "step-000004").mkdir(parents=True)  # killed before state.json was written
    (root / ".tmp-step-000006").mkdir()
    (root / "step-000002").mkdir()
    for name in ("state.json", "tensors.safetensors"):
        (root / "step-000002" / name).write_text("{}")
        (root / ".tmp-step-000006" / name).write_text("{}")
    assert latest_checkpoint(tmp_path) == root / "step-000002"
