"""Composite-reward overhead and score-cache effect, side by side in one run.

Reference: calling a reward source's ``score`` directly. Then the same rows through
``CompositeReward.score_batch`` (isolation, checks, normalisation, stats) with no cache, a cold
cache, a warm in-memory cache, and a warm on-disk cache in a fresh composite; and a bare source
called as a TRL reward function (``source(prompts=..., completions=...)``: a one-source composite). Prints seconds and
ratios to the reference. Uses the example plugin (``pip install -e plugins/rlit-example``) and
the rules plugin's ``repetition`` source when installed (a costlier source, where the cache pays).

    python benchmarks/composite_overhead.py --rows 20000 --batch-size 256
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from rlit.plugins import get_registry, load_reward


def make_rows(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = "the a reward model policy gradient value token batch score ALERT LOUD calm quiet".split()
    completions = [" ".join(rng.choice(words) for _ in range(rng.randint(20, 80))) for _ in range(n)]
    return [f"prompt {i}" for i in range(n)], completions


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_batches(fn, prompts, completions, bs):
    for i in range(0, len(prompts), bs):
        fn(prompts[i : i + bs], completions[i : i + bs])


def bench(source_name: str, prompts, completions, bs: int) -> None:
    reg = get_registry()
    source = reg.source_class(source_name)()
    ref = timed(lambda: run_batches(source.score, prompts, completions, bs))
    results = {"direct score() (reference)": ref}
    # A bare source called as a TRL reward function runs as a one-source composite (no cache).
    results["source as TRL reward fn (one-source composite)"] = timed(
        lambda: run_batches(lambda p, c: source(prompts=p, completions=c), prompts, completions, bs))
    nocache = load_reward({"cache_size": 0, "sources": [{"name": source_name}]})
    results["composite, no cache"] = timed(lambda: run_batches(nocache.score_batch, prompts, completions, bs))
    memory = load_reward({"sources": [{"name": source_name}]})
    results["composite, cold memory cache"] = timed(lambda: run_batches(memory.score_batch, prompts, completions, bs))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {"cache_dir": tmp, "sources": [{"name": source_name}]}
        cached = load_reward(cfg)
        results["composite, cold cache (memory + sqlite)"] = timed(lambda: run_batches(cached.score_batch, prompts, completions, bs))
        results["composite, warm memory cache"] = timed(lambda: run_batches(cached.score_batch, prompts, completions, bs))
        cached.close()
        fresh = load_reward(cfg)
        results["composite, warm sqlite cache (new instance)"] = timed(lambda: run_batches(fresh.score_batch, prompts, completions, bs))
        fresh.close()
    print(f"\nsource {source_name!r}: {len(prompts)} rows, batch {bs}")
    for label, secs in results.items():
        print(f"  {label:48s} {secs:8.3f} s   {secs / ref:6.2f}x reference   {len(prompts) / secs:10.0f} rows/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()
    prompts, completions = make_rows(args.rows)
    for name in ("example-lowercase", "repetition"):
        if name in get_registry().sources:
            bench(name, prompts, completions, args.batch_size)


if __name__ == "__main__":
    main()
