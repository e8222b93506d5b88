"""verl's own loader (verl/utils/import_utils.py from verl 0.9.1, loaded by file path so verl's
heavy package __init__ does not run) finds rlit.integrations.verl:compute_score, and verl's call
convention (per sample, keywords, reward_kwargs merged in, sync calls from a thread pool or async
calls on the event loop) gets the same totals as `rlit score`."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

import rlit
from rlit.errors import DataError
from rlit.plugins import load_reward
from rlit.rewards.scoring import score_jsonl


def _verl_import_utils():
    spec = importlib.util.find_spec("verl")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install --no-deps verl==0.9.1 (scripts/setup.sh does)")
    path = Path(spec.submodule_search_locations[0]) / "utils" / "import_utils.py"
    module_spec = importlib.util.spec_from_file_location("verl_import_utils_under_test", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _verl_reward_fn(name: str, reward_kwargs: dict):
    """What verl.trainer.ppo.reward.get_custom_reward_fn does (0.9.1), minus its heavy imports:
    load_extern_object, then merge reward_kwargs into every call (theirs take precedence)."""
    raw_fn = _verl_import_utils().load_extern_object(module_path="pkg://rlit.integrations.verl", object_name=name)

    def call(*args, **kwargs):
        return raw_fn(*args, **{**kwargs, **reward_kwargs})

    async def call_async(*args, **kwargs):
        return await raw_fn(*args, **{**kwargs, **reward_kwargs})

    return call_async if inspect.iscoroutinefunction(raw_fn) else call


class Contains(rlit.RewardSource):
    """1 when the completion contains the row's ground truth."""

    name = "test-verl-contains"
    columns = ("ground_truth",)
    threads: set[int] = set()

    def score(self, prompts, completions, ground_truth, **columns):
        Contains.threads.add(threading.get_ident())
        return [None if g is None else float(str(g) in c) for c, g in zip(completions, ground_truth)]


class _Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Contains)


SAMPLES = [(f"math{i % 3}", f"the answer is {i * 7}", str(i * 7) if i % 4 else "999", {"index": i}) for i in range(40)]


@pytest.fixture
def config(temp_plugin, tmp_path):
    temp_plugin(_Plugin(), "verl-test-plugin")
    path = tmp_path / "reward.toml"
    path.write_text('[[sources]]\nname = "test-verl-contains"\nweight = 2.0\n\n'
                    '[[sources]]\nname = "length"\noptions = { min = 1, max = 3 }\n')
    return path


def _expected(config: Path, tmp_path: Path) -> list[float]:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"prompt": "", "completion": s, "ground_truth": g, "data_source": d, "extra_info": e}) + "\n"
                            for d, s, g, e in SAMPLES))
    out = tmp_path / "scored.jsonl"
    score_jsonl(load_reward(config), rows, out)
    return [json.loads(line)["reward"] for line in out.read_text().splitlines()]


def test_verl_loader_and_sync_calls_from_a_thread_pool(config, tmp_path):
    expected = _expected(config, tmp_path)
    fn = _verl_reward_fn("compute_score", {"config": str(config)})
    Contains.threads.clear()
    call = lambda s: fn(data_source=s[0], solution_str=s[1], ground_truth=s[2], extra_info=s[3])  # noqa: E731
    with ThreadPoolExecutor(8) as pool:  # verl's naive reward manager: run_in_executor per sample
        replies = list(pool.map(call, SAMPLES))
    assert [r["score"] for r in replies] == expected
    assert set(replies[0]) == {"score", "test-verl-contains", "length"}
    assert len(Contains.threads) == 1  # one scorer thread, whatever thread verl called from


def test_verl_async_variant_on_the_event_loop(config, tmp_path):
    fn = _verl_reward_fn("compute_score_async", {"config": str(config)})

    async def everyone():
        return await asyncio.gather(*(fn(data_source=d, solution_str=s, ground_truth=g, extra_info=e) for d, s, g, e in SAMPLES))

    assert [r["score"] for r in asyncio.run(everyone())] == _expected(config, tmp_path)


def test_verl_unscored_sample_is_an_error_unless_a_value_is_given(temp_plugin, tmp_path):
    temp_plugin(_Plugin(), "verl-test-plugin")
    path = tmp_path / "only.toml"
    path.write_text('[[sources]]\nname = "test-verl-contains"\n')
    from rlit.integrations.verl import compute_score

    with pytest.raises(DataError, match="unscored_value"):
        compute_score("d", "text", None, {}, config=str(path))
    reply = compute_score("d", "text", None, {}, config=str(path), unscored_value=0.0)
    assert reply["score"] == 0.0 and reply["test-verl-contains"] != reply["test-verl-contains"]  # NaN: no score


def test_verl_dict_ground_truth_gives_columns_and_prompt_comes_from_extra_info(temp_plugin, tmp_path):
    temp_plugin(_Plugin(), "verl-test-plugin")
    from rlit.integrations.verl import sample_rows

    rows = sample_rows("src", "sol", {"ground_truth": "42", "unit": "m"}, {"prompt": "Q?"})
    assert rows.prompts == ["Q?"] and rows.columns["ground_truth"] == ["42"] and rows.columns["unit"] == ["m"]
    rows = sample_rows("src", "sol", "42", None, ground_truth_column="answer")
    assert rows.prompts == [""] and rows.columns["answer"] == ["42"]
