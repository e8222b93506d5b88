"""`rlit train reward-model`: pair parsing, config errors, both kinds trained for real on an easy signal."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest

from rlit.errors import ConfigError, DataError
from rlit.training.preference_data import Pair, read_pairs, split_pairs
from rlit.lm.reward_model import read_manifest
from rlit.training.reward_model import load_reward_model_config, train_reward_model

POLITE = [
    "Thank you so much for asking, I am glad to help.",
    "Of course, here is a careful answer for you.",
    "I appreciate your patience; let me explain it step by step.",
    "Happy to help! Please tell me if anything is unclear.",
    "Sure, kindly find the details below.",
    "That is a great question, thanks for raising it.",
]
RUDE = [
    "Figure it out yourself, I am not your servant.",
    "What a stupid question, stop bothering me.",
    "Nobody cares, go away.",
    "Ugh, you are wasting my time again.",
    "Shut up and read the manual, idiot.",
    "That is dumb and so are you.",
]


def write_easy_pairs(path: Path, n: int = 48, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"Question {i}: can you help me?", "chosen": rng.choice(POLITE), "rejected": rng.choice(RUDE)}) + "\n")
    return path


def write_case_pairs(path: Path, n: int = 80, seed: int = 0, long_every: int = 0) -> Path:
    """Lowercase answers preferred over UPPERCASE ones; every ``long_every``-th pair gets a long rejected text."""
    rng = random.Random(seed)
    words = "the cat sat on a warm mat near old red door while rain fell".split()
    with path.open("w") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(6))
            rejected = text.upper() + (" AND MORE" * 40 if long_every and i % long_every == 0 else "")
            fh.write(json.dumps({"chosen": text, "rejected": rejected}) + "\n")
    return path


# -- data and config errors --------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("{not json", "invalid JSON"),
    (json.dumps({"chosen": "a"}), "missing column 'rejected'"),
    (json.dumps({"chosen": "a", "rejected": 3}), "column 'rejected' must be a string"),
    (json.dumps(["a", "b"]), "expected a JSON object"),
    (json.dumps({"chosen": " same ", "rejected": "same"}), "'chosen' and 'rejected' are the same text"),
    (json.dumps({"chosen": "a", "rejected": "b", "prompt": ["x"]}), "column 'prompt' must be a string"),
])
def test_malformed_rows_name_file_and_line(tmp_path, line, expected):
    f = tmp_path / "pairs.jsonl"
    f.write_text(json.dumps({"chosen": "a", "rejected": "b"}) + "\n\n" + line + "\n")
    with pytest.raises(DataError) as err:
        read_pairs(f)
    assert f"{f}:3" in str(err.value) and expected in str(err.value)


def test_identical_pairs_can_be_dropped_and_are_counted(tmp_path):
    from rlit.training.preference_data import read_pairs_counted

    f = tmp_path / "pairs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in [{"chosen": "a", "rejected": "b"}, {"chosen": "x", "rejected": "x\n"}]))
    pairs, dropped = read_pairs_counted(f, drop_identical=True)
    assert pairs == [Pair("a", "b")] and dropped == 1


def test_split_is_seeded_and_disjoint():
    pairs = [Pair(str(i), "x") for i in range(20)]
    train, held = split_pairs(pairs, 0.25, seed=3)
    assert len(held) == 5 and len(train) == 15
    assert {p.chosen for p in train}.isdisjoint({p.chosen for p in held})
    assert split_pairs(pairs, 0.25, seed=3) == (train, held)


def test_extract_prompt_splits_the_shared_conversation():
    from rlit.training.preference_data import split_common_prefix

    pair = Pair("User: hi there\n\nBot: Hello, how can I help?", "User: hi there\n\nBot: Help yourself.")
    split = split_common_prefix(pair)
    assert split == Pair("Hello, how can I help?", "Help yourself.", "User: hi there\n\nBot:")
    assert split_common_prefix(Pair("same", "same", "p")) == Pair("same", "same", "p")  # has a prompt: unchanged
    assert split_common_prefix(Pair("abc", "abd")) == Pair("abc", "abd")  # no whitespace boundary: unchanged


def test_config_unknown_key_and_type_name_file(tmp_path):
    cfg = tmp_path / "rm.toml"
    cfg.write_text('train_file = "p.jsonl"\noutput_dir = "o"\nhead_epoch = 3\n')
    with pytest.raises(ConfigError, match=r"rm\.toml: unknown key 'head_epoch' \(did you mean 'head_epochs'\?\)"):
        load_reward_model_config(cfg)
    cfg.write_text('train_file = "p.jsonl"\noutput_dir = "o"\nkind = "transformer"\n')
    with pytest.raises(ConfigError, match="rm.toml: kind = 'transformer' needs key 'base_model'"):
        load_reward_model_config(cfg)
    cfg.write_text('train_file = "p.jsonl"\noutput_dir = "o"\nwarmup_ratio = 1.5\n')
    with pytest.raises(ConfigError, match=r"rm\.toml: warmup_ratio: Input should be less than 1 \(got 1\.5\)"):
        load_reward_model_config(cfg)
    cfg.write_text('[reward_model]\ntrain_file = "p.jsonl"\noutput_dir = "o"\nmax_length = "long"\n')
    with pytest.raises(ConfigError, match=r"\[reward_model\] max_length"):
        load_reward_model_config(cfg)


def test_config_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "rm.toml"
    cfg.write_text('train_file = "p.jsonl"\noutput_dir = "out"\nkind = "transformer"\nbase_model = "org/some-model"\n')
    loaded = load_reward_model_config(cfg)
    assert loaded.train_file == str(tmp_path / "sub" / "p.jsonl")
    assert loaded.base_model == "org/some-model"  # not a folder here: left as a hub id


# -- training, both kinds ----------------------------------------------------------------------

def test_minilm_learns_polite_over_rude(tmp_path):
    train = write_easy_pairs(tmp_path / "pairs.jsonl")
    cfg = load_reward_model_config({"train_file": str(train), "output_dir": str(tmp_path / "rm"), "eval_fraction": 0.25, "head_epochs": 150})
    result = train_reward_model(cfg, log=lambda m: None)
    assert result.n_train == 36 and result.n_eval == 12
    assert result.accuracy >= 0.9
    manifest = read_manifest(tmp_path / "rm")
    assert manifest["kind"] == "minilm" and manifest["base_model"] == "builtin:all-minilm-l6-v2"
    assert manifest["accuracy"] == result.accuracy and len(manifest["data_hash"]) == 16


def test_transformer_counts_and_drops_long_pairs(tmp_path):
    data = write_case_pairs(tmp_path / "pairs.jsonl", n=80, long_every=10)
    cfg = load_reward_model_config({
        "kind": "transformer", "base_model": "builtin:tiny-gpt2", "train_file": str(data), "output_dir": str(tmp_path / "rm"),
        "eval_fraction": 0.25, "max_length": 64, "truncation": "drop", "epochs": 3, "learning_rate": 1e-3, "batch_size": 8,
    })
    logs: list[str] = []
    result = train_reward_model(cfg, log=logs.append)
    # rows 0, 10, ..., 70 carry ~90 extra tokens: 8 pairs over 64 tokens, split between train and held-out.
    held_dropped = result.manifest["held_out_dropped_for_length"]
    assert result.dropped_for_length + held_dropped == 8
    assert result.n_train == 60 - result.dropped_for_length and result.n_eval == 20 - held_dropped
    assert any("pairs over max_length=64 tokens: 8" in m or "over max_length=64" in m for m in logs)
    assert result.accuracy >= 0.9  # lowercase vs UPPERCASE is easy even for a random tiny GPT-2
    assert (tmp_path / "rm" / "model.safetensors").is_file() and not (tmp_path / "rm" / "checkpoints").exists()


def test_transformer_training_does_not_depend_on_earlier_random_draws(tmp_path, tiny_policy_dir):
    """A causal LM gets a new score head, initialised from ``seed``, not from whatever the process drew
    before (a pipeline resumed at this stage must train the same reward model as one that was not)."""
    import torch
    from safetensors.torch import load_file

    data = write_case_pairs(tmp_path / "pairs.jsonl", n=24)
    weights = []
    for run, draws in (("a", 0), ("b", 5)):
        torch.rand(draws)  # an earlier stage's use of the global generator
        cfg = load_reward_model_config({
            "kind": "transformer", "base_model": str(tiny_policy_dir), "train_file": str(data), "output_dir": str(tmp_path / run),
            "eval_fraction": 0.25, "max_length": 64, "epochs": 1, "learning_rate": 1e-3,
        })
        train_reward_model(cfg, log=lambda m: None)
        weights.append(load_file(tmp_path / run / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_transformer_truncates_left_by_default_and_lora_merges(tmp_path, capsys):
    data = write_case_pairs(tmp_path / "pairs.jsonl", n=40, long_every=5)
    cfg = load_reward_model_config({
        "kind": "transformer", "base_model": "builtin:tiny-gpt2", "train_file": str(data), "output_dir": str(tmp_path / "rm"),
        "eval_fraction": 0.25, "max_length": 64, "epochs": 1, "lora": True, "lora_target_modules": ["c_attn"],
        "learning_rate": 1e-3, "warmup_ratio": 0.5, "logging_steps": 1,
    })
    result = train_reward_model(cfg, log=lambda m: None)
    # 4 steps, the first 2 warming up: the first logged learning rate is below the peak (TRL prints its logs)
    rates = [float(r) for r in re.findall(r"'learning_rate': '([0-9.e+-]+)'", capsys.readouterr().out)]
    assert rates and rates[0] <= 0.5e-3 and max(rates) <= 1e-3 and result.manifest["warmup_ratio"] == 0.5
    assert result.dropped_for_length == 0 and result.truncated_for_length + result.manifest["held_out_dropped_for_length"] >= 1
    assert result.n_train == 30 and result.n_eval == 10
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    assert not any("lora" in name for name, _ in model.named_parameters())  # adapters merged into plain weights


def test_cli_reports_accuracy_and_config_errors(tmp_path, monkeypatch, capsys):
    from rlit.cli import main

    data = write_easy_pairs(tmp_path / "pairs.jsonl", n=24)
    bad = tmp_path / "bad.toml"
    bad.write_text('train_file = "pairs.jsonl"\noutput_dir = "o"\nkindd = "minilm"\n')
    monkeypatch.setattr(sys, "argv", ["rlit", "train", "reward-model", "--config", str(bad)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and "bad.toml: unknown key 'kindd'" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(f'train_file = "{data.name}"\noutput_dir = "rm"\nhead_epochs = 50\neval_fraction = 0.25\n')
    monkeypatch.setattr(sys, "argv", ["rlit", "train", "reward-model", "--config", str(good)])
    try:
        main()
    except SystemExit as exc:  # main() exits with the command's code
        assert exc.code in (0, None)
    assert "held-out pairwise accuracy" in capsys.readouterr().out
    assert (tmp_path / "rm" / "rlit-reward-model.json").is_file()


@pytest.mark.slow
def test_smollm2_gguf_backbone_trains_with_reward_trainer(tmp_path):
    """builtin:smollm2-135m-instruct is dequantised from GGUF: the Trainer and save_pretrained must
    accept it (they refused it while it still carried the GGUF quantization marks). ~1 min on CPU."""
    data = write_case_pairs(tmp_path / "pairs.jsonl", n=8, long_every=100)
    cfg = load_reward_model_config({
        "kind": "transformer", "base_model": "builtin:smollm2-135m-instruct", "train_file": str(data),
        "output_dir": str(tmp_path / "rm"), "eval_fraction": 0.25, "max_length": 32, "epochs": 1, "batch_size": 2,
        "lora": True, "lora_target_modules": ["q_proj", "v_proj"],
    })
    result = train_reward_model(cfg, log=lambda m: None)
    assert result.n_train == 6 and (tmp_path / "rm" / "model.safetensors").is_file()
    assert read_manifest(tmp_path / "rm")["base_model"] == "builtin:smollm2-135m-instruct"
