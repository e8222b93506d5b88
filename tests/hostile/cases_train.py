"""Hostile cases for the training stages and the pipeline: bad numbers in stage configs, paths
that resolve somewhere unexpected, outputs that cannot be written or would destroy an input,
checkpoints that are corrupt, pickled or made with another config, and bad preference data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

harness = sys.modules["rlit_hostile_harness"]
Case, write, write_jsonl, RULES_REWARD = harness.Case, harness.write, harness.write_jsonl, harness.RULES_REWARD

PROMPTS = [{"prompt": f"Say thing {i}."} for i in range(4)]


PPO_TABLES = {
    "model": {"policy": '"{model}"', "device": '"cpu"'},
    "data": {"train": '"prompts.jsonl"'},
    "generation": {"max_new_tokens": "2"},
    "ppo": {"steps": "2", "batch_size": "2", "ppo_epochs": "1", "learning_rate": "0.001"},
    "output": {"dir": '"run"'},
}


def toml_lines(defaults: dict[str, str], override: str) -> str:
    """``key = value`` lines: the defaults with ``override``'s lines replacing or adding keys."""
    values = dict(defaults)
    for line in filter(None, override.splitlines()):
        key, value = (x.strip() for x in line.split("=", 1))
        values[key] = value
    return "".join(f"{k} = {v}\n" for k, v in values.items())


def ppo_toml(**tables: str) -> str:
    """The case's PPO config (``{model}`` left to fill in); ``tables`` override keys per table."""
    body = "".join(f"[{name}]\n{toml_lines(keys, tables.get(name, ''))}" for name, keys in PPO_TABLES.items())
    return body + '[[reward.sources]]\nname = "length"\noptions = {{ min = 2, max = 40 }}\n'


def ppo_setup(**tables: str):
    def setup(folder: Path, model: Path) -> None:
        write(folder, "run.toml", ppo_toml(**tables).format(model=model))
        write_jsonl(folder, "prompts.jsonl", PROMPTS)
    return setup


def ppo_case(id: str, message: str, args: tuple[str, ...] = (), **tables: str) -> Case:
    return Case(id, ["train", "ppo", "--config", "run.toml", *args], 2, message, setup=ppo_setup(**tables), keep=("run.toml",))


def fake_checkpoint(folder: Path, *, config_change: dict | None = None, tensors: bytes | None = None, pickle: bool = False) -> Path:
    """A checkpoint folder as rlit writes it (state.json + training.json + tensors), made with the
    case's config (or a changed copy), without training."""
    from safetensors.torch import save

    from rlit.training.ppo.config import load_ppo_config
    from rlit.training.ppo.resume import fingerprint

    step = folder / "run" / "checkpoints" / "step-000002"
    step.mkdir(parents=True)
    recorded = fingerprint(load_ppo_config(folder / "run.toml")) | (config_change or {})
    write(step, "state.json", json.dumps({"step": 2, "data_position": 4, "kl_coef": 0.05, "config": recorded}))
    if pickle:
        write(step, "training.pt", b"\x80\x04\x95not loaded")
        return step
    write(step, "training.json", json.dumps({"policy": {}, "value": {}, "optimizer": {}, "scheduler": {}, "rng": {}}))
    write(step, "tensors.safetensors", save({}) if tensors is None else tensors)
    return step


def with_checkpoint(**kw):
    def setup(folder: Path, model: Path) -> None:
        ppo_setup()(folder, model)
        fake_checkpoint(folder, **kw)
    return setup


CKPT = "run/checkpoints/step-000002"


def sft_setup(extra: str, config_name: str = "sft.toml", data_name: str = "t.jsonl"):
    def setup(folder: Path, model: Path) -> None:
        defaults = {"model": f'"{model}"', "train_file": '"t.jsonl"', "output_dir": '"out"', "max_steps": "1"}
        write(folder, config_name, toml_lines(defaults, extra))
        write_jsonl(folder, data_name, [{"prompt": "a", "completion": "b"}])
    return setup


def sft_case(id: str, extra: str, message: str) -> Case:
    return Case(id, ["train", "sft", "--config", "sft.toml"], 2, message, setup=sft_setup(extra), keep=("t.jsonl",))


def rm_setup(extra: str = "", rows: list[dict] | None = None):
    def setup(folder: Path, model: Path) -> None:
        write(folder, "rm.toml", f'train_file = "pairs.jsonl"\noutput_dir = "rm"\n{extra}\n')
        write_jsonl(folder, "pairs.jsonl", rows or [{"chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4)])
    return setup


def rm_case(id: str, message: str, extra: str = "", rows: list[dict] | None = None) -> Case:
    return Case(id, ["train", "reward-model", "--config", "rm.toml"], 2, message, setup=rm_setup(extra, rows), keep=("pairs.jsonl",))


def pairs_setup(extra: str, output: str = "pairs.jsonl"):
    def setup(folder: Path, model: Path) -> None:
        write(folder, "pp.toml", f'prompts = "prompts.jsonl"\noutput_file = "{output}"\ncandidate_columns = ["cands"]\n'
                                 f'reward = {{ sources = [{{ name = "length", options = {{ min = 2, max = 40 }} }}] }}\n{extra}\n')
        write_jsonl(folder, "prompts.jsonl", [{"key": f"k{i}", "prompt": f"P{i}", "cands": ["a", "bbbb"]} for i in range(3)])
    return setup


def grpo_setup(extra: str):
    def setup(folder: Path, model: Path) -> None:
        write(folder, "grpo.toml", f'model = "{model}"\nprompts_file = "prompts.jsonl"\noutput_dir = "out"\n'
                                   f'reward = {{ sources = [{{ name = "length", options = {{ min = 2, max = 40 }} }}] }}\n{extra}\n')
        write_jsonl(folder, "prompts.jsonl", PROMPTS)
    return setup


def pipeline_setup(text: str, files: dict[str, str] | None = None):
    def setup(folder: Path, model: Path) -> None:
        write(folder, "p.toml", text.replace("{model}", str(model)))
        write_jsonl(folder, "prompts.jsonl", PROMPTS)
        for name, content in (files or {}).items():
            write(folder, name, content)
    return setup


PIPELINE_PPO = """
[ppo.data]
train = "prompts.jsonl"
[ppo.ppo]
steps = 1
batch_size = 2
[[ppo.reward.sources]]
name = "length"
"""


def pipeline_case(id: str, text: str, message: str, files: dict[str, str] | None = None, keep: tuple[str, ...] = ("p.toml",)) -> Case:
    return Case(id, ["pipeline", "--config", "p.toml"], 2, message, setup=pipeline_setup(text, files), keep=keep)


def config_unchanged(folder: Path) -> None:
    assert not (folder / "run" / "config.json").exists(), "a refused resume must not write config.json"


CASES: list[Case] = [
    # -- PPO: every number in the config is checked at load, naming the table and key ---------
    ppo_case("train-ppo-nan-learning-rate", r"run\.toml: \[ppo\] learning_rate: Input should be a finite number", ppo="learning_rate = nan"),
    ppo_case("train-ppo-negative-learning-rate", r"run\.toml: \[ppo\] learning_rate: Input should be greater than 0 \(got -0\.1\)",
             ppo="learning_rate = -0.1"),
    ppo_case("train-ppo-zero-temperature", r"run\.toml: \[generation\] temperature: Input should be greater than 0 \(got 0", generation="temperature = 0"),
    ppo_case("train-ppo-top-p-above-one", r"run\.toml: \[generation\] top_p: Input should be less than or equal to 1", generation="top_p = 1.5"),
    ppo_case("train-ppo-zero-max-new-tokens", r"run\.toml: \[generation\] max_new_tokens: Input should be greater than or equal to 1",
             generation="max_new_tokens = 0"),
    ppo_case("train-ppo-zero-batch-size", r"run\.toml: \[ppo\] batch_size: Input should be greater than or equal to 1", ppo="batch_size = 0"),
    ppo_case("train-ppo-negative-kl-coef", r"run\.toml: \[ppo\] kl_coef: Input should be greater than or equal to 0", ppo="kl_coef = -0.5"),
    ppo_case("train-ppo-infinite-cliprange", r"run\.toml: \[ppo\] cliprange: Input should be a finite number", ppo="cliprange = inf"),
    ppo_case("train-ppo-banana-device", r"run\.toml: \[model\] device: not a device.*\(got 'banana'\)", model='device = "banana"'),
    # -- PPO: paths resolve against the config file; outputs are checked before models load --
    Case("train-ppo-prompts-resolve-against-config", ["train", "ppo", "--config", "cfg/run.toml"], 2, r"cfg/prompts\.jsonl: file not found",
         setup=lambda f, m: (write(f, "cfg/run.toml", ppo_toml(output='dir = "../run"').format(model=m)), write_jsonl(f, "prompts.jsonl", PROMPTS))),
    Case("train-ppo-output-dir-is-a-file", ["train", "ppo", "--config", "run.toml"], 2, r"\[output\] dir .*run: exists and is not a folder",
         setup=lambda f, m: (ppo_setup()(f, m), write(f, "run", "not a folder")), keep=("run",)),
    # -- PPO: resume safety, checkpoints without pickles ----------------------------------------
    Case("train-ppo-resume-with-changed-learning-rate", ["train", "ppo", "--config", "run.toml", "--resume"], 2,
         r"run\.toml: --resume: the config differs .*\[ppo\] learning_rate: checkpoint 0\.01, config 0\.001.*--accept-config-change",
         setup=with_checkpoint(config_change={"ppo.learning_rate": 0.01}), keep=("run.toml", f"{CKPT}/state.json"), check=config_unchanged),
    Case("train-ppo-resume-with-edited-prompts", ["train", "ppo", "--config", "run.toml", "--resume"], 2,
         r"--resume: the config differs .*\[data\] train_sha256: checkpoint \"0+\.\.\., config",
         setup=with_checkpoint(config_change={"data.train_sha256": "0" * 64}), keep=(f"{CKPT}/state.json",)),
    Case("train-ppo-resume-only-checkpoint-corrupt", ["train", "ppo", "--config", "run.toml", "--resume"], 2,
         r"run/checkpoints: no usable checkpoint \(1 unreadable; newest: .*step-000002: cannot read checkpoint",
         setup=with_checkpoint(tensors=b"\x10\x00\x00garbage"), keep=(f"{CKPT}/tensors.safetensors", f"{CKPT}/state.json")),
    Case("train-ppo-resume-pickled-checkpoint-refused", ["train", "ppo", "--config", "run.toml", "--resume"], 2,
         r"no usable checkpoint .*older rlit as a pickle \(training\.pt\); rlit no longer unpickles checkpoints",
         setup=with_checkpoint(pickle=True), keep=(f"{CKPT}/training.pt",)),
    Case("train-ppo-fresh-start-over-checkpoints", ["train", "ppo", "--config", "run.toml"], 2,
         r"run already holds checkpoints: pass --resume", setup=with_checkpoint(), keep=(f"{CKPT}/state.json",)),
    # -- SFT -------------------------------------------------------------------------------------
    sft_case("train-sft-nan-learning-rate", "learning_rate = nan", r"sft\.toml: learning_rate: Input should be a finite number"),
    sft_case("train-sft-zero-epochs", "epochs = 0", r"sft\.toml: epochs: Input should be greater than 0 \(got 0\)"),
    sft_case("train-sft-banana-device", 'device = "banana"', r"sft\.toml: device: not a device .*\(got 'banana'\)"),
    sft_case("train-sft-unknown-lm-head-loss", 'lm_head_loss = "fast"', r"sft\.toml: lm_head_loss: Input should be 'auto', 'fused' or 'full'"),
    Case("train-sft-paths-resolve-against-config", ["train", "sft", "--config", "cfg/sft.toml"], 2, r"cfg/t\.jsonl: file not found",
         setup=sft_setup("", "cfg/sft.toml", "t.jsonl"), keep=("t.jsonl",)),
    Case("train-sft-output-is-the-training-file", ["train", "sft", "--config", "sft.toml"], 2,
         r"output_dir .*t\.jsonl is the same file as train_file", setup=sft_setup('output_dir = "t.jsonl"'),
         keep=("t.jsonl",)),
    # -- reward model and preference data -------------------------------------------------------
    rm_case("train-reward-identical-pair", r"pairs\.jsonl:3: 'chosen' and 'rejected' are the same text",
            rows=[{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}, {"chosen": " same ", "rejected": "same"}]),
    rm_case("train-reward-rejected-not-a-string", r"pairs\.jsonl:2: column 'rejected' must be a string",
            rows=[{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": 3}]),
    rm_case("train-reward-eval-fraction-one", r"rm\.toml: eval_fraction: Input should be less than 1 \(got 1\.0\)", extra="eval_fraction = 1.0"),
    rm_case("train-reward-negative-head-lr", r"rm\.toml: head_lr: Input should be greater than 0", extra="head_lr = -0.01"),
    Case("train-pairs-zero-temperature", ["train", "preference-pairs", "--config", "pp.toml"], 2,
         r"pp\.toml: temperature: Input should be greater than 0", setup=pairs_setup("temperature = 0.0")),
    Case("train-pairs-output-is-the-prompts", ["train", "preference-pairs", "--config", "pp.toml"], 2,
         r"output_file .*prompts\.jsonl is the same file as prompts", setup=pairs_setup("", output="prompts.jsonl"), keep=("prompts.jsonl",)),
    Case("train-grpo-one-generation", ["train", "grpo", "--config", "grpo.toml"], 2,
         r"grpo\.toml: num_generations: Input should be greater than or equal to 2", setup=grpo_setup("num_generations = 1")),
    Case("train-rloo-banana-device", ["train", "rloo", "--config", "grpo.toml"], 2,
         r"grpo\.toml: device: not a device .*\(got 'banana'\)", setup=grpo_setup('device = "banana"')),
    # -- pipeline ------------------------------------------------------------------------------
    pipeline_case("pipeline-sft-negative-learning-rate", 'base_model = "{model}"\n[sft]\ntrain_file = "t.jsonl"\nlearning_rate = -1.0\n' + PIPELINE_PPO,
                  r"p\.toml: \[sft\] learning_rate: Input should be greater than 0 \(got -1\.0\)"),
    pipeline_case("pipeline-ppo-zero-temperature", 'base_model = "{model}"\n[ppo.generation]\ntemperature = 0.0\n' + PIPELINE_PPO,
                  r"p\.toml: \[ppo\]: \[generation\] temperature: Input should be greater than 0"),
    pipeline_case("pipeline-reward-model-identical-key-typo", 'base_model = "{model}"\n[preference_pairs]\nprompts = "prompts.jsonl"\n'
                  'reward = "r.toml"\ncandidate_columns = ["c"]\n[reward_model]\ndrop_identicals = true\n' + PIPELINE_PPO,
                  r"p\.toml: \[reward_model\]: unknown key 'drop_identicals' \(did you mean 'drop_identical'\?\)"),
    pipeline_case("pipeline-out-dir-is-a-file", 'out_dir = "run"\nbase_model = "{model}"\n' + PIPELINE_PPO,
                  r"out_dir .*run: exists and is not a folder", files={"run": "a file"}, keep=("run",)),
    pipeline_case("pipeline-corrupt-stage-marker", 'out_dir = "run"\nbase_model = "{model}"\n' + PIPELINE_PPO,
                  r"run/base/stage\.json: unreadable stage marker .*delete .*run/base to redo the stage",
                  files={"run/base/stage.json": '{"model": '}, keep=("run/base/stage.json",)),
    pipeline_case("pipeline-tokenizer-file-bad-json", 'out_dir = "run"\n[tiny]\nn_layer = 1\ntokenizer_files = ["texts.jsonl"]\n' + PIPELINE_PPO,
                  r"texts\.jsonl:2: invalid JSON", files={"texts.jsonl": '{"prompt": "a", "completion": "b"}\n{oops\n'},
                  keep=("texts.jsonl",)),
]
