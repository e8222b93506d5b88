"""Shared set-up of the SFT benchmarks: their arguments, and the quick start's base model built
from its ``[tiny]`` table (the same model the pipeline's base stage builds)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rlit.lm.builtin import build_tiny_gpt2
from rlit.pipeline import load_pipeline_config

ROOT = Path(__file__).resolve().parent.parent


def parse_args(description: str) -> tuple[argparse.Namespace, Any]:
    """``--config`` (a pipeline with ``[tiny]`` and ``[sft]``), ``--steps``, ``--repeats``; and the loaded config."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config", default=str(ROOT / "examples/quickstart/pipeline.toml"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    return args, load_pipeline_config(args.config)


def build_base(cfg: Any, folder: Path) -> Path:
    t = cfg.tiny
    texts = [json.loads(line)[k] for f in t.tokenizer_files for line in open(f) for k in ("prompt", "completion")]
    return build_tiny_gpt2(folder, seed=t.seed, n_layer=t.n_layer, n_embd=t.n_embd, n_head=t.n_head, n_positions=t.n_positions,
                           chat_template=True, tokenizer_texts=texts, vocab_size=t.vocab_size,
                           activation_function=t.activation_function)
