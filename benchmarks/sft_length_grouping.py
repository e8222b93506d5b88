"""SFT with length-grouped batches against shuffled batches, side by side in one run.

Both arms run ``train_sft`` on the quick start's base model (built here from its ``[tiny]`` table)
and SFT data for the same number of optimiser steps, same seed; only ``group_by_length`` differs.
Prints seconds per step, the share of batch positions that are real tokens (the rest is padding),
and the ratio of the two step times. Arms alternate (A B A B ...) so drift in a shared machine's
speed hits both alike.

    python benchmarks/sft_length_grouping.py --steps 60 --repeats 2
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
from pathlib import Path

import torch

from rlit.training.sft import SFTStageConfig, train_sft

from quickstart_sft import build_base, parse_args


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
    args, cfg = parse_args(__doc__.splitlines()[0])
    sft = dict(cfg.sft)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_base(cfg, Path(tmp) / "base")
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
