"""SFT with length-grouped batches against shuffled batches, side by side in one run.

Both arms run ``train_sft`` on the quick start's base model (built here from its ``[tiny]`` table)
and SFT data for the same number of optimiser steps, same seed; only ``group_by_length`` differs.
Prints seconds per step, the share of batch positions that are real tokens (the rest is padding),
and the ratio of the two step times. Arms alternate (A B A B ...) so drift in a shared machine's
speed hits both alike.

    python benchmarks/sft_length_grouping.py --steps 60 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from pathlib import Path

import torch

from rlit.models import build_tiny_gpt2
from rlit.pipeline import load_pipeline_config
from rlit.training.sft import SFTStageConfig, train_sft

ROOT = Path(__file__).resolve().parent.parent


def padding_share(lengths: list[int], batch_size: int, grouped: bool, seed: int = 0) -> float:
    """Real tokens / batch positions for one epoch (grouped: sorted within megabatches of up to 50
    batches, as transformers' LengthGroupedSampler does)."""
    order = lengths[:]
    random.Random(seed).shuffle(order)
    if grouped:
        mega = min(len(order) // (batch_size * 4), 50) * batch_size
        order = [x for i in range(0, len(order), mega) for x in sorted(order[i : i + mega], reverse=True)]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(map(sum, batches)) / sum(max(b) * len(b) for b in batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "examples/quickstart/pipeline.toml"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = load_pipeline_config(args.config)
    t, sft = cfg.tiny, dict(cfg.sft)
    texts = [json.loads(line)[k] for f in t.tokenizer_files for line in open(f) for k in ("prompt", "completion")]
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_gpt2(Path(tmp) / "base", seed=t.seed, n_layer=t.n_layer, n_embd=t.n_embd, n_head=t.n_head,
                               n_positions=t.n_positions, chat_template=True, tokenizer_texts=texts, vocab_size=t.vocab_size)
        seconds: dict[bool, list[float]] = {False: [], True: []}
        for r in range(args.repeats):
            for grouped in (False, True):
                run = SFTStageConfig(**{**sft, "model": str(base), "output_dir": f"{tmp}/sft-{grouped}-{r}",
                                        "max_steps": args.steps, "group_by_length": grouped, "device": "cpu"})
                seconds[grouped].append(train_sft(run)["seconds"] / args.steps)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(base)
        rows = [json.loads(line) for line in open(sft["train_file"])]
        lengths = [len(tok.apply_chat_template([{"role": "user", "content": x["prompt"]},
                                                {"role": "assistant", "content": x["completion"]}], tokenize=True)["input_ids"])
                   for x in rows]
    shuffled, grouped = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"torch threads {torch.get_num_threads()}, {args.steps} steps x {args.repeats} repeats, batch {sft['batch_size']}")
    for name, sec, g in (("shuffled (reference)", shuffled, False), ("group_by_length", grouped, True)):
        print(f"{name:22s} {sec:.3f} s/step  real tokens {padding_share(lengths, sft['batch_size'], g):.0%} of positions")
    print(f"ratio group_by_length / shuffled: {grouped / shuffled:.2f}")


if __name__ == "__main__":
    main()
