"""SFT's loss through TRL's fused, chunked LM head against the full logits, side by side in one run.

Both arms run ``train_sft`` on the quick start's base model (built here from its ``[tiny]`` table)
and SFT data for the same number of optimiser steps, same seed, on the CPU; only ``lm_head_loss``
differs. Prints seconds per step, each arm's training loss (equal to float rounding: the same
loss), and the ratio of the step times. Arms alternate (A B A B ...) so drift in a shared
machine's speed hits both alike.

    python benchmarks/sft_lm_head_loss.py --steps 60 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from rlit.models import build_tiny_gpt2
from rlit.pipeline import load_pipeline_config
from rlit.training.sft import SFTStageConfig, train_sft

ROOT = Path(__file__).resolve().parent.parent
ARMS = ("fused", "full")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "examples/quickstart/pipeline.toml"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = load_pipeline_config(args.config)
    t, sft = cfg.tiny, dict(cfg.sft)
    texts = [json.loads(line)[k] for f in t.tokenizer_files for line in open(f) for k in ("prompt", "completion")]
    seconds: dict[str, list[float]] = {a: [] for a in ARMS}
    losses: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_gpt2(Path(tmp) / "base", seed=t.seed, n_layer=t.n_layer, n_embd=t.n_embd, n_head=t.n_head,
                               n_positions=t.n_positions, chat_template=True, tokenizer_texts=texts, vocab_size=t.vocab_size)
        for r in range(args.repeats):
            for arm in ARMS:
                run = SFTStageConfig(**{**sft, "model": str(base), "output_dir": f"{tmp}/sft-{arm}-{r}",
                                        "max_steps": args.steps, "lm_head_loss": arm, "device": "cpu"})
                result = train_sft(run)
                seconds[arm].append(result["seconds"] / args.steps)
                losses[arm] = result["train_loss"]
    print(f"torch threads {torch.get_num_threads()}, {args.steps} steps x {args.repeats} repeats, batch {sft['batch_size']}")
    for arm in ARMS:
        label = "fused (TRL, reference)" if arm == "fused" else "full logits"
        print(f"{label:24s} {statistics.median(seconds[arm]):.3f} s/step  training loss {losses[arm]:.6f}")
    print(f"ratio full / fused: {statistics.median(seconds['full']) / statistics.median(seconds['fused']):.2f}")


if __name__ == "__main__":
    main()
