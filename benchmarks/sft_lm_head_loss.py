"""SFT's loss through TRL's fused, chunked LM head against the full logits, side by side in one run.

Both arms run ``train_sft`` on the quick start's base model (built here from its ``[tiny]`` table)
and SFT data for the same number of optimiser steps, same seed, on the CPU; only ``lm_head_loss``
differs. Prints seconds per step, each arm's training loss (equal to float rounding: the same
loss), and the ratio of the step times. Arms alternate (A B A B ...) so drift in a shared
machine's speed hits both alike.

    python benchmarks/sft_lm_head_loss.py --steps 60 --repeats 2
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import torch

from rlit.training.sft import SFTStageConfig, train_sft

from quickstart_sft import build_base, parse_args

ARMS = ("fused", "full")


def main() -> None:
    args, cfg = parse_args(__doc__.splitlines()[0])
    sft = dict(cfg.sft)
    seconds: dict[str, list[float]] = {a: [] for a in ARMS}
    losses: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = build_base(cfg, Path(tmp) / "base")
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
