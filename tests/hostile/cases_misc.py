"""Hostile cases for the command line itself and model loading (shared by every command)."""

from __future__ import annotations

import sys
from pathlib import Path

harness = sys.modules["rlit_hostile_harness"]
Case, write, write_jsonl = harness.Case, harness.write, harness.write_jsonl

SUITE = """
name = "tiny"
[[evals]]
name = "length"
prompts = "prompts.jsonl"
metric = { source = "length", options = { min = 1, max = 50 } }
generation = { max_new_tokens = 2 }
"""


def suite(folder: Path, model: Path) -> None:
    write(folder, "suite.toml", SUITE)
    write_jsonl(folder, "prompts.jsonl", [{"key": f"k{i}", "prompt": f"Say {i}."} for i in range(3)])


def truncated_model(folder: Path, model: Path) -> None:
    suite(folder, model)
    copy = folder / "model"
    copy.mkdir()
    for f in model.iterdir():
        data = f.read_bytes()
        (copy / f.name).write_bytes(data[: len(data) // 3] if f.suffix == ".safetensors" else data)


def not_a_model(folder: Path, model: Path) -> None:
    suite(folder, model)
    write(folder, "empty-model/README.md", "nothing here")


def rows(folder: Path, model: Path) -> None:
    write(folder, "reward.toml", harness.RULES_REWARD)
    write_jsonl(folder, "rows.jsonl", [{"prompt": "p", "completion": "a b c"}])


EVAL = ["evaluate", "--suite", "suite.toml", "--out", "out", "--device", "cpu"]

CASES = [
    Case("cli-unknown-command", ["frobnicate"], 2, r"No such command"),
    Case("cli-unknown-option", ["score", "--frobnicate"], 2, r"No such option"),
    Case("cli-missing-required-option", ["evaluate", "--suite", "suite.toml"], 2, r"Missing option '--model'", setup=suite),
    Case("cli-option-wrong-type", ["score", "--config", "reward.toml", "--input", "rows.jsonl", "--batch-size", "many"], 2,
         r"Invalid value for '--batch-size'", setup=rows),
    Case("cli-model-missing-folder", [*EVAL, "--model", "./no-such-model"], 2, r"model \./no-such-model: no such folder", setup=suite),
    Case("cli-model-folder-without-config", [*EVAL, "--model", "empty-model"], 2, r"empty-model.*no config\.json", setup=not_a_model),
    Case("cli-model-is-a-file", [*EVAL, "--model", "suite.toml"], 2, r"suite\.toml.*is a file", setup=suite),
    Case("cli-model-truncated-safetensors", [*EVAL, "--model", "model"], 2, r"cannot load model 'model'.*truncated", setup=truncated_model),
    Case("cli-device-banana", [*EVAL, "--model", "{model}", "--device", "banana"], 2, r"--device 'banana': not a device", setup=suite),
    Case("cli-device-cuda-without-gpu", [*EVAL, "--model", "{model}", "--device", "cuda:7"], 2, r"--device 'cuda:7'", setup=suite),
]
