"""rlit's PPO under a real multi-process launch: two CPU processes (torchrun, gloo), the same
distributed code path as ``accelerate launch`` on several GPUs apart from the device and the
collective backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from rlit.training.ppo.steplog import read_steps

DRIVER = '''
import hashlib, sys
import torch
from rlit.training.ppo.config import load_ppo_config
from rlit.training.ppo.trainer import PPOTrainer
trainer = PPOTrainer(load_ppo_config(sys.argv[1]))
trainer.train()
weights = torch.cat([p.detach().flatten() for p in trainer._unwrapped().parameters()])
print("RANK", trainer.acc.process_index, "OF", trainer.acc.num_processes,
      "WEIGHTS", hashlib.sha256(weights.numpy().tobytes()).hexdigest(), flush=True)
'''


def write_run(tmp_path) -> None:
    """16 prompts and a 4-step PPO config (``run.toml``) on the built-in tiny GPT-2 with a length reward."""
    with (tmp_path / "prompts.jsonl").open("w") as fh:
        for i in range(16):
            fh.write(json.dumps({"prompt": f"Tell me about item {i}."}) + "\n")
    (tmp_path / "run.toml").write_text(textwrap.dedent("""
        [model]
        policy = "builtin:tiny-gpt2"
        [data]
        train = "prompts.jsonl"
        shuffle = false
        [generation]
        max_new_tokens = 6
        [ppo]
        steps = 4
        batch_size = 4
        mini_batches = 2
        learning_rate = 1e-3
        [output]
        dir = "out"
        save_every = 2
        [[reward.sources]]
        name = "length"
        options = { max = 20 }
    """))


def test_two_processes_split_the_prompts_and_keep_one_policy(tmp_path):
    write_run(tmp_path)
    (tmp_path / "driver.py").write_text(DRIVER)
    # an empty cache: process 0 builds the built-in model while process 1 waits for it (transformers
    # writes save_pretrained files on rank 0 only)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RLIT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(tmp_path / "driver.py"), str(tmp_path / "run.toml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    ranks = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RANK"):
            _, rank, _, world, _, digest = line.split()
            ranks[rank] = (world, digest)
    assert set(ranks) == {"0", "1"} and all(world == "2" for world, _ in ranks.values())
    assert ranks["0"][1] == ranks["1"][1]  # gradients averaged across processes: one policy, not two
    steps = read_steps(tmp_path / "out" / "steps.jsonl")
    assert [s["step"] for s in steps] == [1, 2, 3, 4]  # one log, written by the main process
    # each step consumes 2 processes x 4 prompts; process 0 took rows 0, 2, 4, 6 of the first 8
    assert [s["data_position"] for s in steps] == [8, 16, 24, 32]
    assert steps[0]["samples"][0]["prompt"] == "Tell me about item 0."
    assert steps[1]["samples"][0]["prompt"] == "Tell me about item 8."
    assert (tmp_path / "out" / "checkpoints" / "step-000004" / "state.json").is_file()
    assert (tmp_path / "out" / "final" / "config.json").is_file()
    assert (tmp_path / "cache" / "models" / "tiny-gpt2-v2" / "model.safetensors").is_file()
