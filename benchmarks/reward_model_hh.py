"""Reward models on Anthropic hh-rlhf (harmless-base test split): train on one half, test on the other.

    .venv/bin/python benchmarks/reward_model_hh.py /work/shared/data/hh-rlhf/harmless-base-test.jsonl.gz

The data path is an argument; the halves go to a temporary folder, never into the repository.
Runs both kinds through the same library path as `rlit train reward-model` and prints held-out
pairwise accuracy and training time for each, then the ``reward-model`` source's scoring speed
(rows/s) on each trained folder. Results go to benchmarks/results/reward_model_hh.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "reward_model_hh.txt"


def split_halves(data: Path, folder: Path, seed: int, limit: int | None) -> tuple[Path, Path, int]:
    from rlit.training.preference_data import read_pairs

    pairs = read_pairs(data, limit)
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    paths = []
    for name, idx in (("train", order[:half]), ("test", order[half:])):
        path = folder / f"{name}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for i in idx:
                fh.write(json.dumps({"chosen": pairs[i].chosen, "rejected": pairs[i].rejected}) + "\n")
        paths.append(path)
    return paths[0], paths[1], len(pairs)


def source_rows_per_second(folder: Path, test: Path, n: int, batch_size: int) -> tuple[float, int]:
    """Rows/s of the reward-model source scoring n held-out texts (after a warm-up batch)."""
    from rlit.training.preference_data import read_pairs
    from rlit_reward_model import RewardModelSource

    source = RewardModelSource(str(folder), batch_size=batch_size)
    texts = [p.chosen for p in read_pairs(test, n)]
    source.score([""] * batch_size, texts[:batch_size])
    start = time.perf_counter()
    source.score([""] * len(texts), texts)
    return len(texts) / (time.perf_counter() - start), len(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="hh-rlhf JSONL(.gz) with chosen/rejected columns")
    ap.add_argument("--kinds", default="minilm,transformer", help="comma-separated: minilm, transformer")
    ap.add_argument("--transformer-base", default="builtin:all-minilm-l6-v2", help="backbone of the transformer reward model")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--warmup-ratio", type=float, default=0.0)
    ap.add_argument("--head", default="linear")
    ap.add_argument("--features", default="completion", help="minilm features: text, completion, completion+prompt")
    ap.add_argument("--no-extract-prompt", action="store_true", help="keep whole conversations (no common-prefix prompt)")
    ap.add_argument("--lora", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N pairs (quick check)")
    ap.add_argument("--rows", type=int, default=256, help="texts scored for the rows/s figure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from rlit.training.reward_model import load_reward_model_config, train_reward_model

    lines = [f"# reward models on {args.data.name}: train on one half, test on the other (seed {args.seed})",
             f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, torch threads {__import__('torch').get_num_threads()}, "
             f"load average at start {os.getloadavg()[0]:.1f} (a shared machine: times scale with it)"]
    with tempfile.TemporaryDirectory(prefix="rlit-hh-") as tmp:
        tmpdir = Path(tmp)
        train, test, total = split_halves(args.data, tmpdir, args.seed, args.limit)
        lines.append(f"# {total} pairs -> {total // 2} train / {total - total // 2} test")
        for kind in args.kinds.split(","):
            cfg = {"kind": kind, "train_file": str(train), "eval_file": str(test), "output_dir": str(tmpdir / kind),
                   "max_length": args.max_length, "seed": args.seed, "head": args.head, "features": args.features,
                   "extract_prompt": kind == "minilm" and not args.no_extract_prompt}  # transformer: whole text, left-truncated
            if kind == "transformer":
                cfg.update(base_model=args.transformer_base, epochs=args.epochs, learning_rate=args.learning_rate,
                           batch_size=args.batch_size, lora=args.lora, save_steps=10_000, warmup_ratio=args.warmup_ratio)
            result = train_reward_model(load_reward_model_config(cfg))
            m = result.manifest
            what = (f"{kind} ({m['base_model']}, {args.head} head on {args.features} embeddings, extract_prompt {not args.no_extract_prompt})" if kind == "minilm" else
                    f"{kind} ({m['base_model']}{' + LoRA' if args.lora else ''}, {args.epochs} epoch, lr {args.learning_rate}, warmup {args.warmup_ratio}, batch {args.batch_size})")
            head = f" (of which the Bradley-Terry head {m['head_seconds']} s; the rest is embedding)" if kind == "minilm" else ""
            lines.append(f"{what}: held-out pairwise accuracy {result.accuracy:.3f} on {result.n_eval} pairs; "
                         f"train+eval time {result.seconds:.0f} s{head}; max_length {args.max_length}, "
                         f"{result.truncated_for_length} train pairs truncated (left), {result.dropped_for_length} dropped")
            rps, n = source_rows_per_second(result.output_dir, test, args.rows, 32 if kind == "minilm" else 16)
            lines.append(f"  reward-model source on this folder: {rps:.1f} rows/s ({n} hh-rlhf texts, CPU)")
            print("\n".join(lines[-2:]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
