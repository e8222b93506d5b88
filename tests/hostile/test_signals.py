"""Ctrl-C and SIGTERM, sent to real `rlit` processes after their first progress: exit 130 / 143,
one line saying what was kept, no traceback, no verdict, and a rerun that finishes the work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PLUGIN = '''
import time
import rlit

class SlowLength(rlit.RewardSource):
    """Word count / 10, slowly (so a signal arrives mid-run)."""
    name = "slow-length"
    def score(self, prompts, completions, **columns):
        time.sleep(0.15)
        return [len(c.split()) / 10 for c in completions]

class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(SlowLength)
'''

# The real console entry point, with one extra plugin registered first (no pip install needed).
DRIVER = '''
import sys
sys.path.insert(0, sys.argv[1])
import slow_plugin
from rlit.plugins import get_registry
get_registry().add_plugin(slow_plugin.Plugin(), "slow-plugin", distribution=None, version=None)
from rlit.cli import main
main(sys.argv[2:])
'''


def _workspace(tmp: Path, n_rows: int) -> None:
    (tmp / "slow_plugin.py").write_text(PLUGIN)
    (tmp / "driver.py").write_text(DRIVER)
    (tmp / "reward.toml").write_text('[[sources]]\nname = "slow-length"\n')
    with (tmp / "rows.jsonl").open("w") as fh:
        for i in range(n_rows):
            fh.write(json.dumps({"prompt": f"Say something about {i}.", "completion": "word " * (i % 7)}) + "\n")


def _start(tmp: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RLIT_CACHE_DIR": str(tmp / ".cache")}
    return subprocess.Popen([sys.executable, str(tmp / "driver.py"), str(tmp), *args], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_when(proc: subprocess.Popen, ready, sig: int, timeout: float = 240) -> tuple[str, str]:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    assert proc.poll() is None, "the command finished before the signal: " + "".join(proc.communicate())[-2000:]
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=240)
    return out, err


def _assert_interrupted(proc: subprocess.Popen, out: str, err: str, sig: int) -> str:
    shown = f"exit {proc.returncode}\n{out[-2000:]}\n{err[-2000:]}"
    assert proc.returncode == 128 + sig, shown
    assert "Traceback" not in out + err, shown
    lines = [l for l in err.splitlines() if l.startswith("interrupted (")]
    assert len(lines) == 1 and signal.Signals(sig).name in lines[0], shown
    return lines[0]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_score_interrupted_keeps_rows_and_resumes(tmp_path, sig):
    _workspace(tmp_path, 400)
    args = ("score", "--config", "reward.toml", "--input", "rows.jsonl", "--output", "out.jsonl", "--batch-size", "8")
    proc = _start(tmp_path, *args)
    started = lambda: any(p.stat().st_size > 0 for p in tmp_path.glob("out.jsonl*"))  # noqa: E731
    line = _assert_interrupted(proc, *_signal_when(proc, started, sig), sig)
    assert "--resume" in line
    assert not (tmp_path / "out.jsonl").exists() or len((tmp_path / "out.jsonl").read_text().splitlines()) < 400
    done = _start(tmp_path, *args, "--resume")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    rows = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    source = [json.loads(l) for l in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [r["completion"] for r in rows] == [r["completion"] for r in source]
    assert all(r["scores"]["slow-length"] == len(r["completion"].split()) / 10 for r in rows)


def _suite(tmp: Path, model: Path) -> None:
    with (tmp / "prompts.jsonl").open("w") as fh:
        for i in range(24):
            fh.write(json.dumps({"key": f"p{i}", "prompt": f"Write about topic {i}."}) + "\n")
    evals = "".join(textwrap.dedent(f"""
        [[evals]]
        name = "slow-{k}"
        prompts = "prompts.jsonl"
        metric = {{ source = "slow-length" }}
        generation = {{ max_new_tokens = 4, batch_size = 4, seed = {k} }}
        gate = {{ min = 0.0 }}
    """) for k in range(3))
    (tmp / "suite.toml").write_text(f'name = "signals"\n{evals}')


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_evaluate_interrupted_has_no_verdict(tmp_path, tiny_policy_dir, sig):
    _workspace(tmp_path, 1)
    _suite(tmp_path, tiny_policy_dir)
    args = ("evaluate", "--model", str(tiny_policy_dir), "--suite", "suite.toml", "--out", "report", "--device", "cpu")
    proc = _start(tmp_path, *args)
    results = tmp_path / "report" / "results.json"
    _assert_interrupted(proc, *_signal_when(proc, results.exists, sig), sig)
    data = json.loads(results.read_text())
    assert data.get("verdict") not in ("pass", "fail")
    done = _start(tmp_path, *args)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    assert json.loads(results.read_text())["verdict"] == "pass"


def test_train_ppo_sigterm_keeps_checkpoint_and_resumes(tmp_path, tiny_policy_dir):
    _workspace(tmp_path, 1)
    with (tmp_path / "prompts.jsonl").open("w") as fh:
        for i in range(8):
            fh.write(json.dumps({"prompt": f"Tell me about item {i}."}) + "\n")
    (tmp_path / "ppo.toml").write_text(textwrap.dedent(f"""
        [model]
        policy = "{tiny_policy_dir}"
        device = "cpu"
        [data]
        train = "prompts.jsonl"
        [generation]
        max_new_tokens = 4
        [ppo]
        steps = 40
        batch_size = 4
        ppo_epochs = 1
        [output]
        dir = "run"
        save_every = 1
        [[reward.sources]]
        name = "slow-length"
    """))
    proc = _start(tmp_path, "train", "ppo", "--config", "ppo.toml")
    steps = tmp_path / "run" / "steps.jsonl"
    ready = lambda: steps.exists() and len(steps.read_text().splitlines()) >= 2  # noqa: E731
    line = _assert_interrupted(proc, *_signal_when(proc, ready, signal.SIGTERM), signal.SIGTERM)
    assert "--resume" in line
    assert not (tmp_path / "run" / "summary.json").exists()
