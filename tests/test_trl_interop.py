"""TRL interop: sources and composites survive pickling into a fresh process (TRL's async GRPO
spawns its rollout worker with pickled reward functions), are usable as async reward functions,
and keep their own names in TRL's ``rewards/<name>/mean`` logs when passed as a list."""

from __future__ import annotations

import asyncio
import json
import math
import pickle
import subprocess
import sys

import pytest
from trl.trainer.utils import get_callable_name, is_async_callable

from rlit.plugins import load_reward

FUNCTIONS = '''
def shout(prompts, completions, **kwargs):
    return [sum(ch.isupper() for ch in c) / max(len(c), 1) for c in completions]

def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return float(ground_truth in solution_str)
'''

PROMPTS = ["Say hi", "Count"]
COMPLETIONS = [[{"role": "assistant", "content": "HI there"}], [{"role": "assistant", "content": "one two 3"}]]
COLUMNS = {"answer": ["hi", "3"]}


@pytest.fixture
def composite(tmp_path):
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    (tmp_path / "reward.toml").write_text(
        '[[sources]]\nname = "length"\noptions = { min = 2, max = 40 }\n'
        '[[sources]]\nfunction = "fns.py:shout"\nweight = 2.0\n'
        '[[sources]]\nfunction = "fns.py:compute_score"\nsignature = "verl"\nname = "exact"\ncolumns = { ground_truth = "answer" }\n'
        '[[sources]]\nfunction = "trl.rewards:think_format_reward"\nweight = 0.5\n'
    )
    return load_reward(tmp_path / "reward.toml")


def call_in_subprocess(obj, tmp_path, is_async=False):
    """Pickle ``obj``, load it in a fresh interpreter (as a spawned TRL worker does) and call it
    as TRL would; returns what it returned."""
    blob = tmp_path / "fn.pkl"
    blob.write_bytes(pickle.dumps(obj))
    kwargs = {"prompts": PROMPTS, "completions": COMPLETIONS, "completion_ids": [[1], [2]], **COLUMNS}
    script = (
        "import asyncio, json, pickle, sys\n"
        f"fn = pickle.load(open({str(blob)!r}, 'rb'))\n"
        f"kwargs = json.loads({json.dumps(json.dumps(kwargs))})\n"
        "out = fn(**kwargs, trainer_state=None, log_metric=None)\n"
        f"out = asyncio.run(out) if {is_async} else out\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def trl_call(fn):
    return fn(prompts=PROMPTS, completions=COMPLETIONS, completion_ids=[[1], [2]], trainer_state=None, **COLUMNS)


def same(a, b):
    return all((x is None and y is None) or math.isclose(x, y) for x, y in zip(a, b, strict=True))


def test_composite_pickles_and_scores_the_same_in_a_fresh_process(composite, tmp_path):
    here = trl_call(composite)
    assert same(call_in_subprocess(composite, tmp_path), here)


def test_each_source_pickles_on_its_own(composite, tmp_path):
    for entry in composite.entries:
        here = trl_call(entry.source)
        assert same(call_in_subprocess(entry.source, tmp_path), here), entry.name


def test_per_source_reward_functions_pickle_and_keep_their_names(composite, tmp_path):
    funcs = composite.reward_funcs()
    assert [get_callable_name(f) for f in funcs] == ["length", "shout", "exact", "think_format_reward"]
    assert composite.reward_weights() == [1.0, 2.0, 1.0, 0.5]
    for f in funcs:
        assert same(call_in_subprocess(f, tmp_path), trl_call(f))


def test_sources_as_async_reward_functions(composite, tmp_path):
    fn = composite.as_async()
    assert is_async_callable(fn) and get_callable_name(fn) == "rlit-composite"
    assert same(asyncio.run(trl_call(fn)), trl_call(composite))
    source = composite.entries[1].source.as_async()
    assert is_async_callable(source) and get_callable_name(source) == "shout"
    assert same(call_in_subprocess(source, tmp_path, is_async=True), trl_call(composite.entries[1].source))
    per_source = composite.reward_funcs()[2].as_async()
    assert get_callable_name(per_source) == "exact" and asyncio.run(trl_call(per_source)) == [0.0, 1.0]


def test_think_format_reward_sees_trl_conversations(composite):
    assert trl_call(composite.entries[3].source) == [0.0, 0.0]
    good = [[{"role": "assistant", "content": "<think>ok</think>yes"}]]
    assert composite.entries[3].source(prompts=["q"], completions=good) == [1.0]


def test_grpo_logs_each_source_under_its_own_name(composite, tiny_policy_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    data = Dataset.from_dict({"prompt": ["Once upon a time", "The weather today"] * 2, "answer": ["a", "e"] * 2})
    funcs = composite.reward_funcs()
    funcs[1] = funcs[1].as_async()  # one async among sync ones: TRL gathers it on its own loop
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, max_steps=1, per_device_train_batch_size=2,
        num_generations=2, max_completion_length=8, report_to=[], logging_steps=1, save_strategy="no",
        learning_rate=1e-4, seed=0, activation_checkpointing=False, reward_weights=composite.reward_weights(),
    )
    trainer = GRPOTrainer(model=str(tiny_policy_dir), reward_funcs=funcs, args=args, train_dataset=data)
    trainer.train()
    logged = trainer.state.log_history[0]
    for name in ("length", "shout", "exact", "think_format_reward"):
        assert f"rewards/{name}/mean" in logged, sorted(logged)
