"""Generate rlit's own prompt sets into evals/data/ (deterministic: same seed, same bytes).

    python scripts/make_prompt_sets.py                 # writes evals/data/*.jsonl
    python scripts/make_prompt_sets.py --out /tmp/x    # somewhere else (tests compare bytes)
    python scripts/make_prompt_sets.py --verify        # also re-check every SFT target (strict+loose)

Outputs: instructions-{train,validation,test}.jsonl (IFEval row format), SFT targets for train
and validation (no test targets, ever), and redteam.jsonl. See docs/prompt-sets.md.
"""

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prompt_sets import checking, redteam  # noqa: E402
from prompt_sets.instructions import conflict_map, draw_row, instruction_ids, template_kinds  # noqa: E402
from prompt_sets.responder import respond  # noqa: E402

SEED = 20261125
SIZES = {"train": 1200, "validation": 200, "test": 600}
KEY_BASE = {"train": 100000, "validation": 200000, "test": 300000}
SFT_SPLITS = ("train", "validation")


def generate_split(split: str, n: int, seed: int = SEED) -> tuple[list[dict], list[str], int]:
    """Rows, a verified completion per row, and how many draws were redrawn as unsatisfiable.

    Primary instructions go round-robin over the 25 types (shuffled each round), so every type
    appears in every split about n/25 times as primary, more as a companion.
    """
    rng = random.Random(f"{seed}:{split}")
    all_ids, conflicts, kinds = instruction_ids(), conflict_map(), template_kinds()
    usage, rows, completions, redraws = Counter(), [], [], 0
    order: list[str] = []
    for i in range(n):
        if i % len(all_ids) == 0:
            order = rng.sample(all_ids, len(all_ids))
        key = KEY_BASE[split] + i
        for attempt in range(200):
            row = draw_row(split, key, order[i % len(all_ids)], rng, usage, conflicts, all_ids)
            completion = respond(row, kinds[row["template"]], f"{seed}:{split}:{key}:{attempt}")
            if completion is not None:
                break
            redraws += 1
        else:
            raise RuntimeError(f"{split} row {key}: no satisfiable draw in 200 attempts")
        usage.update(row["instruction_id_list"])
        rows.append(row)
        completions.append(completion)
    return rows, completions, redraws


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def sft_rows(rows: list[dict], completions: list[str]) -> list[dict]:
    return [{"prompt": r["prompt"], "completion": c, "instruction_id_list": r["instruction_id_list"],
             "kwargs": r["kwargs"]} for r, c in zip(rows, completions)]


def verify(rows: list[dict], completions: list[str]) -> dict[str, float]:
    """Pass rates of the completions under lm-eval's process_results (prompt level)."""
    strict = loose = 0
    for row, completion in zip(rows, completions):
        v = checking.verdicts(row, completion)
        strict += v["prompt_level_strict_acc"]
        loose += v["prompt_level_loose_acc"]
    return {"strict": strict / len(rows), "loose": loose / len(rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "evals" / "data")
    ap.add_argument("--verify", action="store_true", help="re-check every SFT target with process_results")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, n in SIZES.items():
        rows, completions, redraws = generate_split(split, n)
        write_jsonl(args.out / f"instructions-{split}.jsonl", rows)
        if split in SFT_SPLITS:
            write_jsonl(args.out / f"instructions-{split}-sft.jsonl", sft_rows(rows, completions))
        words = sum(len(c.split()) for c in completions) / len(completions)
        line = f"{split}: {len(rows)} rows, {redraws} redraws, mean completion {words:.0f} words"
        if args.verify:
            rates = verify(rows, completions)
            line += f", completions pass strict {rates['strict']:.1%} loose {rates['loose']:.1%}"
        print(line, flush=True)
    red = redteam.build_rows()
    write_jsonl(args.out / "redteam.jsonl", red)
    print(f"redteam: {len(red)} rows, {len({r['group'] for r in red if r['group']})} counterfactual groups")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
