"""SFT stage: a real TRL SFTTrainer run on the tiny GPT-2, and its input errors."""

import json

import pytest

from rlit.errors import ConfigError, DataError
from rlit.training.sft import SFTStageConfig, read_prompt_completion, train_sft


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_sft_learns_the_completions_and_saves_a_loadable_model(tmp_path):
    from rlit.lm.builtin import build_tiny_gpt2
    from rlit.lm.loading import load_causal_lm

    base = build_tiny_gpt2(tmp_path / "base", chat_template=True)
    rows = [{"prompt": f"Name the colour number {i}.", "completion": "blue"} for i in range(32)]
    data = _write(tmp_path / "train.jsonl", rows)
    cfg = SFTStageConfig(model=str(base), train_file=str(data), output_dir=str(tmp_path / "out"),
                         eval_file=str(data), max_steps=40, learning_rate=3e-3, batch_size=8)
    result = train_sft(cfg)
    assert result["steps"] == 40
    assert result["eval_loss"] < 1.0  # random init starts near ln(50257) ~ 10.8
    model, tok = load_causal_lm(str(tmp_path / "out"))
    ids = tok.apply_chat_template([{"role": "user", "content": "Name the colour number 99."}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip() == "blue"


def test_bad_rows_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: missing or non-string column 'completion'"):
        read_prompt_completion(bad)
    bad.write_text('{"prompt": "a", "completion": "b"}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        read_prompt_completion(bad)


def test_cli_reports_unknown_config_key(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "sft.toml"
    cfg.write_text('model = "x"\ntrain_file = "t.jsonl"\noutput_dir = "o"\nlearning_rat = 0.1\n')
    proc = subprocess.run([sys.executable, "-m", "rlit", "train", "sft", "--config", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown key 'learning_rat' (did you mean 'learning_rate'?)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_conversational_yes_without_template_is_a_config_error(tmp_path, tiny_policy_dir):
    data = _write(tmp_path / "t.jsonl", [{"prompt": "a", "completion": "b"}])
    cfg = SFTStageConfig(model=str(tiny_policy_dir), train_file=str(data), output_dir=str(tmp_path / "o"), conversational="yes")
    with pytest.raises(ConfigError, match="has no chat template"):
        train_sft(cfg)


def test_group_by_length_cuts_padding(tmp_path, monkeypatch):
    import rlit.training.sft
    from rlit.lm.builtin import build_tiny_gpt2

    base = build_tiny_gpt2(tmp_path / "base", chat_template=True)
    rows = [{"prompt": "Say it.", "completion": " ".join(["word"] * n)} for n in range(1, 65)]
    data = _write(tmp_path / "train.jsonl", rows)
    load = rlit.training.sft.load_causal_lm
    positions: list[int] = []

    def counting_load(*args, **kwargs):
        model, tok = load(*args, **kwargs)
        model.register_forward_pre_hook(lambda _m, _a, kw: positions.append(kw["input_ids"].numel()), with_kwargs=True)
        return model, tok

    monkeypatch.setattr(rlit.training.sft, "load_causal_lm", counting_load)  # the name train_sft calls
    seen = {}
    for grouped in (False, True):
        positions.clear()
        cfg = SFTStageConfig(model=str(base), train_file=str(data), output_dir=str(tmp_path / f"o{grouped}"),
                             max_steps=8, batch_size=8, group_by_length=grouped)
        assert train_sft(cfg)["steps"] == 8
        seen[grouped] = sum(positions)
    # one epoch of 64 rows; transformers sorts within megabatches of 2 batches at this size (0.83 measured)
    assert seen[True] < 0.9 * seen[False]


def test_length_grouped_batches_cover_every_row_once_in_random_batch_order():
    import random

    import torch

    from rlit.training.sft import LengthGroupedBatches

    lengths = [random.Random(i).randint(5, 300) for i in range(1000)]
    torch.manual_seed(0)
    order = list(LengthGroupedBatches(lengths, 16))
    assert sorted(order) == list(range(1000))
    batches = [order[i : i + 16] for i in range(0, 1000, 16)]
    assert len(batches[-1]) == 1000 % 16  # the partial batch is the last one
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert sum(lengths) / padded > 0.9  # shuffled batches of 16 give ~0.55 here
    means = [sum(lengths[i] for i in b) / len(b) for b in batches[:-1]]
    rises = sum(b > a for a, b in zip(means, means[1:]))
    assert 0.3 < rises / (len(means) - 1) < 0.7  # not served longest to shortest
    torch.manual_seed(1)
    assert list(LengthGroupedBatches(lengths, 16)) != order


def test_full_logits_loss_matches_trl_fused_lm_head(tmp_path):
    """lm_head_loss = "full" (the CPU default) trains on the same loss as TRL's fused LM head: the same
    rows, masks and normalisation, so the two runs agree to float rounding, with and without eval."""
    from rlit.lm.builtin import build_tiny_gpt2

    base = build_tiny_gpt2(tmp_path / "base", chat_template=True)
    rows = [{"prompt": f"Count to {i}.", "completion": " ".join(str(k) for k in range(1, i + 2))} for i in range(24)]
    data = _write(tmp_path / "train.jsonl", rows)
    results = {}
    for mode in ("fused", "full"):
        cfg = SFTStageConfig(model=str(base), train_file=str(data), output_dir=str(tmp_path / mode), eval_file=str(data),
                             max_steps=6, batch_size=4, gradient_accumulation_steps=2, learning_rate=3e-3, lm_head_loss=mode)
        results[mode] = train_sft(cfg)
    assert results["full"]["train_loss"] == pytest.approx(results["fused"]["train_loss"], rel=1e-4)
    assert results["full"]["eval_loss"] == pytest.approx(results["fused"]["eval_loss"], rel=1e-4)
    assert results["full"]["train_loss"] != pytest.approx(results["full"]["eval_loss"], rel=1e-3)  # it trained


def test_lm_head_loss_must_be_known(tmp_path, tiny_policy_dir):
    data = _write(tmp_path / "train.jsonl", [{"prompt": "a", "completion": "b"}])
    # model_construct: a config built in Python without validation (loading would refuse "chunked")
    valid = SFTStageConfig(model=str(tiny_policy_dir), train_file=str(data), output_dir=str(tmp_path / "o"))
    cfg = SFTStageConfig.model_construct(**{**valid.model_dump(), "lm_head_loss": "chunked"})
    with pytest.raises(ConfigError, match="lm_head_loss"):
        train_sft(cfg)
