"""Function sources: `[[sources]] function = "module:attr"` (TRL or verl signature, sync or async)
through the composite's one guarded path, config errors naming the key, the code fingerprint in
the cache tag, and end to end through `rlit score` and `rlit evaluate`."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from rlit.errors import ConfigError, PluginError, SourceError
from rlit.plugins import load_reward
from rlit.rewards.functions import FunctionSource

FUNCTIONS = '''
import asyncio

CALLS = []

def brevity(prompts, completions, max_words=3, **kwargs):
    CALLS.append(sorted(kwargs))
    return [1.0 if len(c.split()) <= max_words else 0.0 for c in completions]

async def async_len(prompts, completions, **kwargs):
    await asyncio.sleep(0)
    return [float(len(c)) for c in completions]

def strict(prompts, completions, scale: float = 1.0):
    return [scale for _ in completions]

def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    if solution_str == "boom":
        raise ValueError("cannot parse boom")
    return {"score": float(solution_str.strip() == str(ground_truth)), "source": data_source, "info": extra_info}

async def async_score(data_source, solution_str, ground_truth, extra_info, bonus=0.0):
    await asyncio.sleep(0)
    return float(solution_str == ground_truth) + bonus

def no_score(data_source, solution_str, ground_truth, extra_info):
    return {"acc": 1.0}

NOT_CALLABLE = 3
'''


@pytest.fixture
def fns(tmp_path, monkeypatch):
    """The functions above as an importable module `rlit_test_fns` and as a file `fns.py`."""
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    (tmp_path / "rlit_test_fns.py").write_text(FUNCTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("rlit_test_fns", None)
    yield tmp_path
    sys.modules.pop("rlit_test_fns", None)


def build(sources, tmp_path=None, name="reward.toml", top=""):
    if tmp_path is None:
        return load_reward({"sources": sources, "cache_size": 0})
    path = tmp_path / name
    lines = [top]
    for s in sources:
        lines.append("[[sources]]")
        lines += [f"{k} = {json.dumps(v) if not isinstance(v, dict) else _inline(v)}" for k, v in s.items()]
    path.write_text("\n".join(lines) + "\n")
    return load_reward(path)


def _inline(d):
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in d.items()) + " }"


def test_trl_signature_module_path_options_and_default_name(fns):
    reward = build([{"function": "rlit_test_fns:brevity", "options": {"max_words": 2}}])
    res = reward.score_batch(["p", "p"], ["one two", "one two three"], topic=["a", "b"])
    assert res.per_source == {"brevity": [1.0, 0.0]}
    assert sys.modules["rlit_test_fns"].CALLS == [["topic"]]  # columns as keywords (max_words=2 took effect above)
    assert isinstance(reward.entries[0].source, FunctionSource)


def test_file_path_resolves_against_the_config_file(fns, tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    reward = build([{"function": "fns.py:brevity", "name": "short"}], tmp_path)
    assert reward.score_batch(["p"], ["a b"]).per_source == {"short": [1.0]}


def test_async_functions_trl_and_verl(fns):
    reward = build([{"function": "rlit_test_fns:async_len"},
                    {"function": "rlit_test_fns:async_score", "signature": "verl", "options": {"bonus": 0.5}}])
    res = reward.score_batch(["p", "p"], ["abc", "x"], ground_truth=["abc", "y"])
    assert res.per_source == {"async_len": [3.0, 1.0], "async_score": [1.5, 0.5]}


def test_async_function_called_from_a_running_event_loop(fns):
    import asyncio

    reward = build([{"function": "rlit_test_fns:async_len"}])

    async def inside():
        return reward.score_batch(["p"], ["abcd"]).per_source

    assert asyncio.run(inside()) == {"async_len": [4.0]}


def test_verl_signature_maps_columns_and_reports_dict_keys_as_details(fns):
    reward = build([{"function": "rlit_test_fns:compute_score", "signature": "verl", "columns": {"ground_truth": "answer"}}])
    rows = dict(answer=["5", "6"], data_source=["gsm8k", "gsm8k"])
    res = reward.score_batch(["q", "q"], ["5", "7"], **rows)
    assert res.per_source == {"compute_score": [1.0, 0.0]}
    details = reward.source_details(["q", "q"], ["5", "7"], **rows)["compute_score"]
    assert details == [{"source": "gsm8k", "info": {}}, {"source": "gsm8k", "info": {}}]  # extra_info defaults to {}


def test_verl_needs_its_ground_truth_column(fns):
    reward = build([{"function": "rlit_test_fns:compute_score", "signature": "verl"}])
    with pytest.raises(Exception, match="needs column 'ground_truth'"):
        reward.score_batch(["q"], ["5"], answer=["5"])


def test_verl_row_failure_is_isolated_under_skip(fns):
    reward = build([{"function": "rlit_test_fns:compute_score", "signature": "verl", "on_error": "skip"}])
    res = reward.score_batch(["q"] * 3, ["1", "boom", "3"], ground_truth=["1", "2", "4"])
    assert res.per_source["compute_score"][0] == 1.0 and res.per_source["compute_score"][2] == 0.0
    assert "cannot parse boom" in res.unscored["compute_score"][1]


def test_verl_dict_without_score_is_a_source_error(fns):
    reward = build([{"function": "rlit_test_fns:no_score", "signature": "verl"}])
    with pytest.raises(SourceError, match=r"reward source 'no_score'.*dict without 'score' \(keys: acc\)"):
        reward.score_batch(["q"], ["a"], ground_truth=["a"])


def test_trl_think_format_reward_gets_conversational_completions():
    reward = build([{"function": "trl.rewards:think_format_reward"}])
    res = reward.score_batch(["q", "q"], ["<think>hm</think>42", "42"])
    assert res.per_source == {"think_format_reward": [1.0, 0.0]}
    assert reward.entries[0].source.messages  # auto: its completions are annotated as message lists


@pytest.mark.parametrize("entry, message", [
    ({"function": "no_such_module_xyz:f"}, r"sources\[0\]\.function: no module named 'no_such_module_xyz'"),
    ({"function": "rlit_test_fns:missing"}, r"sources\[0\]\.function: rlit_test_fns has no attribute 'missing'"),
    ({"function": "rlit_test_fns:NOT_CALLABLE"}, r"sources\[0\]\.function: rlit_test_fns:NOT_CALLABLE is a int, not a function"),
    ({"function": "rlit_test_fns"}, r"sources\[0\]\.function: expected 'package\.module:function'"),
    ({"function": "os.path; rm -rf:x"}, r"sources\[0\]\.function: .*neither a dotted module name nor a path"),
    ({"function": "missing.py:f"}, r"sources\[0\]\.function: file not found: .*missing\.py"),
    ({"weight": 1.0}, r"sources\[0\]\.name: Field required: give 'name' .* or 'function'"),
    ({"name": "length", "signature": "verl"}, r"sources\[0\]\.signature: applies only to a 'function' source"),
    ({"function": "rlit_test_fns:strict", "options": {"scael": 2.0}}, r"sources\[0\]\.options\.scael: function 'rlit_test_fns:strict' takes no keyword 'scael' \(did you mean 'scale'\?\)"),
    ({"function": "rlit_test_fns:strict", "options": {"scale": "big"}}, r"sources\[0\]\.options\.scale: .*valid number \(got 'big'; expected float\)"),
    ({"function": "rlit_test_fns:async_score", "signature": "verl", "columns": {"ground_truht": "a"}}, r"sources\[0\]\.columns\.ground_truht: .* has no parameter 'ground_truht'"),
    ({"function": "rlit_test_fns:brevity", "options": {"completions": ["x"]}}, r"sources\[0\]\.options\.completions: 'completions' is filled from each row"),
    ({"function": "rlit_test_fns:compute_score", "signature": "verl", "options": {"ground_truth": "5"}}, r"sources\[0\]\.options\.ground_truth: 'ground_truth' is filled from each row for signature = 'verl'"),
    ({"function": "rlit_test_fns:brevity", "columns": {"prompts": "question"}}, r"sources\[0\]\.columns\.prompts: 'prompts' is the row's prompt"),
    ({"function": "rlit_test_fns:compute_score", "signature": "verl", "completions": "messages"}, r"sources\[0\]\.completions: applies to signature = \"trl\" only"),
])
def test_bad_function_entries_name_the_key(fns, tmp_path, entry, message):
    with pytest.raises(ConfigError, match=r"reward\.toml: " + message):
        build([entry], tmp_path)


def test_module_that_fails_to_import_is_a_plugin_error(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('no GPU here')\n")
    with pytest.raises(PluginError, match=r"reward\.toml: sources\[0\]\.function: importing .*broken\.py failed: RuntimeError: no GPU here"):
        build([{"function": "broken.py:f"}], tmp_path)


def test_every_entry_is_checked_before_any_function_is_called(fns, tmp_path):
    with pytest.raises(ConfigError, match=r"sources\[1\]"):
        build([{"function": "fns.py:brevity"}, {"function": "fns.py:nope"}], tmp_path)


def test_code_fingerprint_in_cache_tag_and_provenance(fns, tmp_path):
    first = build([{"function": "fns.py:brevity"}], tmp_path)
    tag = first.entries[0].cache_tag
    assert tag.startswith("function|fns.py:brevity|trl|") and "code=" in tag
    assert first.provenance["brevity"].startswith("function fns.py:brevity (sha256 ")
    assert first.fingerprints["brevity"] == first.entries[0].source.fingerprint
    (tmp_path / "fns.py").write_text(FUNCTIONS + "\n# edited\n")
    second = build([{"function": "fns.py:brevity"}], tmp_path)
    assert second.entries[0].cache_tag != tag  # an edited function misses the cache


def test_persistent_cache_serves_function_scores(fns, tmp_path):
    reward = build([{"function": "fns.py:brevity"}], tmp_path, top='cache_dir = "c"')
    reward.score_batch(["p"], ["a b"])
    again = build([{"function": "fns.py:brevity"}], tmp_path, top='cache_dir = "c"')
    assert again.score_batch(["p"], ["a b"]).stats["brevity"]["n_cached"] == 1


# -- end to end -------------------------------------------------------------------------------


def test_rlit_score_with_a_trl_and_a_verl_function(rlit_main, tmp_path, monkeypatch, capsys):
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    (tmp_path / "reward.toml").write_text(textwrap.dedent('''
        [[sources]]
        function = "fns.py:brevity"
        options = { max_words = 2 }
        [[sources]]
        function = "fns.py:compute_score"
        signature = "verl"
        name = "exact"
        columns = { ground_truth = "answer" }
    '''))
    rows = [{"prompt": "q", "completion": "5", "answer": "5"}, {"prompt": "q", "completion": "six or so", "answer": "6"}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = rlit_main("score", "--config", tmp_path / "reward.toml", "--input", tmp_path / "rows.jsonl", "--output", tmp_path / "out.jsonl")
    assert code == 0, capsys.readouterr().err
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["scores"] for o in out] == [{"brevity": 1.0, "exact": 1.0}, {"brevity": 0.0, "exact": 0.0}]


def test_rlit_score_bad_function_is_one_line_exit_2(rlit_main, tmp_path, monkeypatch, capsys):
    (tmp_path / "reward.toml").write_text('[[sources]]\nfunction = "nope_mod_zz:f"\n')
    (tmp_path / "rows.jsonl").write_text('{"prompt": "q", "completion": "a"}\n')
    assert rlit_main("score", "--config", tmp_path / "reward.toml", "--input", tmp_path / "rows.jsonl") == 2
    err = capsys.readouterr().err
    assert "sources[0].function: no module named 'nope_mod_zz'" in err and "Traceback" not in err


def test_the_functions_example_runs(rlit_main, tmp_path, monkeypatch, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "functions"
    out = tmp_path / "scored.jsonl"
    assert rlit_main("score", "--config", example / "reward.toml", "--input", example / "rows.jsonl", "--output", out) == 0
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["scores"]["math"] for row in scored] == [1.0, 0.0, 1.0]


SUITE = '''
name = "functions"
bootstrap = 100
[generation]
max_new_tokens = 4
batch_size = 4
[[evals]]
name = "trl-style"
prompts = "prompts.jsonl"
metric = { sources = [{ function = "fns.py:async_len" }] }
gate = { min = 0.0 }
[[evals]]
name = "verl-style"
prompts = "prompts.jsonl"
metric = { sources = [{ function = "fns.py:compute_score", signature = "verl", columns = { ground_truth = "answer" } }] }
gate = { min = 0.0 }
'''


def test_rlit_evaluate_with_a_trl_and_a_verl_function(rlit_main, tmp_path, monkeypatch, capsys, tiny_policy_dir):
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    rows = [{"id": str(i), "prompt": f"Say {i}", "answer": str(i)} for i in range(3)]
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "suite.toml").write_text(SUITE)
    monkeypatch.chdir("/")  # fns.py resolves beside the suite, not in the current folder
    code = rlit_main("evaluate", "--model", tiny_policy_dir, "--suite", tmp_path / "suite.toml",
                "--out", tmp_path / "out", "--no-cache")
    assert code == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    evals = {e["name"]: e for e in res["evals"]}
    assert evals["trl-style"]["value"] > 0  # generated text has characters
    assert 0.0 <= evals["verl-style"]["value"] <= 1.0
    assert evals["verl-style"]["metric"]["plugins"]["compute_score"].startswith("function fns.py:compute_score (sha256 ")


TRAINER_CONFIGS = {
    "ppo": '[model]\npolicy = "builtin:tiny-gpt2"\n[data]\ntrain = "prompts.jsonl"\n',
    "grpo": 'model = "builtin:tiny-gpt2"\nprompts_file = "prompts.jsonl"\noutput_dir = "out"\n',
    "preference_pairs": 'prompts = "prompts.jsonl"\noutput_file = "pairs.jsonl"\ncandidate_columns = ["a", "b"]\n',
}


@pytest.mark.parametrize("trainer", sorted(TRAINER_CONFIGS))
def test_trainer_inline_reward_resolves_function_files_beside_the_config(trainer, tmp_path, monkeypatch):
    """A trainer's inline [reward] table: `function = "fns.py:attr"` is the file next to the
    config, whatever the working directory (as in a reward_config file)."""
    from rlit.configfile import load_stage
    from rlit.training.ppo.config import load_ppo_config
    from rlit.training.preference_pairs import load_preference_pairs_config
    from rlit.training.trl_rl import TRLRLConfig

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "fns.py").write_text(FUNCTIONS)
    (folder / "prompts.jsonl").write_text('{"prompt": "hi", "a": "x", "b": "y"}\n')
    cfg_file = folder / "run.toml"
    cfg_file.write_text(TRAINER_CONFIGS[trainer] + '[reward]\ncache_size = 0\n[[reward.sources]]\nfunction = "fns.py:brevity"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no fns.py here
    load = {"ppo": load_ppo_config, "grpo": lambda p: load_stage(TRLRLConfig, p, "grpo"),
            "preference_pairs": load_preference_pairs_config}[trainer]
    reward = load_reward(load(cfg_file).reward)
    assert reward.score_batch(["p", "p"], ["one two", "one two three four"]).total == [1.0, 0.0]
