"""rlit's instruction-following eval vs the `lm_eval` command line, same model and prompts, one run.

    python benchmarks/ifeval_smollm2.py --data /path/to/ifeval/input_data.jsonl [--n 100] [--max-new-tokens 1280]

Wall time on a shared machine depends on the other load, so process CPU time (user + system of
each tool's child process) is reported next to it. Every phase runs in its own child process, so
each pays its own imports and model load, as a user's command would. Phases (each written to --out
as soon as it finishes, so a cut-off run still reports; ``--phases`` runs a subset and merges into
an existing --out of the same setting):
1. ``lm_eval``: the shared anchor script (lm-eval 0.4.13's CLI, HF backend, greedy, chat template,
   batch 8) on the saved copy rlit keeps of builtin:smollm2-135m-instruct (the GGUF dequantised
   once, before any timed phase); scores and time.
2. ``rlit``: ``rlit evaluate``'s library call on the same prompts, same model, same settings, a
   fresh generation cache; scores and time.
3. ``rerun``: rlit again on the unchanged model: generations and scores come from the cache.
With --rlit-only the lm_eval phase is skipped (e.g. all 541 prompts).
The data is read from the given path, never copied into the repository (a filtered copy lives in
a temporary work folder, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANCHOR = Path("/work/shared/bench/lmeval_ifeval_anchor.sh")
MODEL = "builtin:smollm2-135m-instruct"
EVALS = {  # rlit eval name -> lm-eval metric name
    "prompt-strict": "prompt_level_strict_acc", "inst-strict": "inst_level_strict_acc",
    "prompt-loose": "prompt_level_loose_acc", "inst-loose": "inst_level_loose_acc",
}


def scorable_rows(data: Path, n: int, work: Path) -> tuple[Path, list]:
    """The first n rows minus those the ifeval source refuses (kwargs lm-eval would replace by a
    random draw, e.g. a non-letter for letter_frequency), written to a temporary file that both
    rlit and lm_eval read, so they see the same prompts. The file is deleted with the work folder."""
    from rlit.plugins import get_registry

    source = get_registry().source_class("ifeval")()
    rows = [json.loads(line) for line in data.read_text().splitlines()[:n]]
    kept, excluded = [], []
    for r in rows:
        try:
            source.score([r["prompt"]], [""], instruction_id_list=[r["instruction_id_list"]], kwargs=[r["kwargs"]])
            kept.append(r)
        except Exception as exc:  # the source names the row and the instruction
            excluded.append({"key": r.get("key"), "reason": str(exc)[:200]})
    path = work / "ifeval_first_n.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return path, excluded


def write_suite(folder: Path, data: Path, max_new_tokens: int, batch_size: int) -> Path:
    body = [f'name = "ifeval-bench"\n[generation]\nmax_new_tokens = {max_new_tokens}\ndo_sample = false\n'
            f'chat_template = "always"\nbatch_size = {batch_size}\n']
    for name in EVALS:
        level, mode = name.split("-")
        method = "prompt_level" if level == "prompt" else "instruction_level"
        body.append(f'[[evals]]\nname = "{name}"\nprompts = "{data}"\nmetric = {{ source = "ifeval", options = {{ mode = "{mode}" }} }}\n'
                    f'aggregate = {{ method = "{method}" }}\n')
    path = folder / "ifeval-bench.toml"
    path.write_text("\n".join(body))
    return path


def run_rlit(suite: Path, n: int, cache: Path, out: Path) -> dict:
    """rlit's evaluate() in a child process (its own imports and model load, like the CLI)."""
    import resource

    start, cpu = time.perf_counter(), _children_cpu(resource)
    proc = subprocess.run([sys.executable, __file__, "--child-rlit", str(suite), str(n), str(cache), str(out)],
                          capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu(resource) - cpu
    if proc.returncode != 0:
        raise SystemExit(f"rlit evaluate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), **result}


def child_rlit(suite: str, n: str, cache: str, out: str) -> None:
    from rlit.evaluation import evaluate

    start = time.perf_counter()
    res = evaluate(Path(suite), MODEL, limit=int(n), cache_dir=Path(cache), out_dir=Path(out), device="cpu")
    if res.errors:
        raise SystemExit(f"rlit evaluate failed: {res.errors}")
    print(json.dumps({"in_process_wall_s": round(time.perf_counter() - start, 1),
                      "scores": {k: round(v, 4) for k, v in res.values.items()},
                      "ci": {k: e.ci for k, e in res.evals.items()}, "model_sha256": res.manifest["model"]["sha256"],
                      "generate_s": res.evals["prompt-strict"].seconds}))


def saved_model_folder() -> Path:
    """The plain HF folder rlit keeps for the built-in (dequantised once, then reused): lm_eval reads
    the very weights rlit loads. Written here, before any timed phase, if it is not there yet."""
    from rlit.lm.builtin import smollm2_saved_copy

    return smollm2_saved_copy()


def run_lmeval(model_dir: Path, data: Path, n: int, max_new_tokens: int) -> dict:
    from rlit.lm.builtin import package_folder

    punkt = package_folder("llama_index", "llama-index-core==0.14.25") / "core" / "_static" / "nltk_cache"
    env = {**os.environ, "NLTK_DATA": str(punkt)}
    import resource

    start, cpu = time.perf_counter(), _children_cpu(resource)
    proc = subprocess.run(["bash", str(ANCHOR), sys.executable, str(model_dir), str(data), str(n), str(max_new_tokens)],
                          capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - start, _children_cpu(resource) - cpu
    if proc.returncode != 0:
        raise SystemExit(f"lm_eval anchor failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    scores = {}
    for name, metric in EVALS.items():
        m = re.search(rf"\|{metric}\s*\|[^|]*\|\s*([0-9.]+)", proc.stdout)
        scores[name] = float(m.group(1)) if m else None
    cli = re.search(r"lm_eval_cli_wall_s=([0-9.]+)", proc.stdout)
    return {"wall_s": round(float(cli.group(1)) if cli else wall, 1), "cpu_s": round(cpu, 1), "scores": scores, "table": proc.stdout[-1500:]}


def _children_cpu(resource) -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def decode_ablation(data: Path, k: int, max_new_tokens: int, batch_size: int, reverse: bool = False) -> dict:
    """CPU seconds of generation alone on the first k prompts, longest first in batches, for three
    decoders: transformers' ``generate`` (what lm_eval runs), rlit's loop on the default cache (finished
    rows dropped), and rlit's loop on the preallocated cache (what ``rlit evaluate`` runs)."""
    import rlit.lm.decoding as decoding
    from rlit.lm.generation import _hf_generate, _token_lengths, load_model, render
    from rlit.lm.generation import GenerationSettings

    lm = load_model(MODEL, device="cpu")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, chat_template="always", batch_size=batch_size)
    texts = [render(lm.tokenizer, json.loads(line)["prompt"], settings) for line in data.read_text().splitlines()[:k]]
    lengths = _token_lengths(lm.tokenizer, texts)
    texts = [t for _, t in sorted(zip(lengths, texts), key=lambda x: -x[0])]
    lm.tokenizer.padding_side = "left"
    batches = [lm.tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
               for i in range(0, len(texts), batch_size)]
    real = decoding.preallocated_cache
    variants = {
        "hf_generate": lambda enc: _hf_generate(lm, enc, max_new_tokens, settings, 0),
        "rlit_loop_default_cache": lambda enc: lm.tokenizer.batch_decode(decoding.decode(
            lm.model, enc["input_ids"], enc["attention_mask"], max_new_tokens, [lm.tokenizer.eos_token_id]), skip_special_tokens=True),
        "rlit_loop_preallocated": lambda enc: lm.tokenizer.batch_decode(decoding.decode(
            lm.model, enc["input_ids"], enc["attention_mask"], max_new_tokens, [lm.tokenizer.eos_token_id]), skip_special_tokens=True),
    }
    result, outputs = {}, {}
    for name, run in (reversed(variants.items()) if reverse else variants.items()):
        decoding.preallocated_cache = (lambda *a: None) if name == "rlit_loop_default_cache" else real
        start, cpu = time.perf_counter(), time.process_time()
        outputs[name] = [o for enc in batches for o in run(enc)]
        result[name] = {"cpu_s": round(time.process_time() - cpu, 1), "wall_s": round(time.perf_counter() - start, 1)}
    decoding.preallocated_cache = real
    result["identical_outputs"] = len({json.dumps(o) for o in outputs.values()}) == 1
    result["new_tokens"] = [len(lm.tokenizer(o, add_special_tokens=False)["input_ids"]) for o in outputs["rlit_loop_preallocated"]]
    return result


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--child-rlit":
        return child_rlit(*sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="IFEval input_data.jsonl (read in place)")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--max-new-tokens", type=int, default=1280)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rlit-only", action="store_true", help="skip the lm_eval phase (e.g. for all 541 prompts)")
    ap.add_argument("--phases", default="lm_eval,rlit,rerun", help="comma-separated subset of lm_eval,rlit,rerun")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ifeval_smollm2.json")
    ap.add_argument("--decode-ablation", type=int, metavar="K", default=0,
                    help="only time generation on the first K prompts with generate vs rlit's loop (with/without preallocation)")
    ap.add_argument("--reverse", action="store_true", help="with --decode-ablation: run the decoders in reverse order")
    args = ap.parse_args()
    if args.decode_ablation:
        report = {"model": MODEL, "k": args.decode_ablation, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
                  "load_avg_start": os.getloadavg(), **decode_ablation(args.data.resolve(), args.decode_ablation, args.max_new_tokens,
                                                                       args.batch_size, args.reverse), "reverse": args.reverse, "load_avg_end": os.getloadavg()}
        args.out.write_text(json.dumps(report, indent=1))
        print(json.dumps(report, indent=1))
        return
    phases = [p for p in args.phases.split(",") if not (args.rlit_only and p == "lm_eval")]
    data = args.data.resolve()
    # Kept between phase subsets of one setting (it holds a filtered copy of the data); removed when
    # the last phase is done.
    work = Path(tempfile.gettempdir()) / f"rlit-ifeval-bench-n{args.n}-t{args.max_new_tokens}"
    work.mkdir(exist_ok=True)
    report: dict = {"model": MODEL, "data": str(data), "n": args.n, "max_new_tokens": args.max_new_tokens,
                    "batch_size": args.batch_size, "cpu_count": os.cpu_count()}
    if args.out.is_file():
        old = json.loads(args.out.read_text())
        if all(old.get(k) == report[k] for k in ("n", "max_new_tokens", "batch_size")):
            report = old

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        print(json.dumps({k: v for k, v in report.items() if k != "lm_eval_table"}, indent=1), flush=True)

    def stamp(phase: str, when: str) -> None:
        report.setdefault("phase_times", {})[f"{phase}_{when}"] = {
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_avg": os.getloadavg()}

    data, report["excluded_keys"] = scorable_rows(data, args.n, work)
    suite = write_suite(work, data, args.max_new_tokens, args.batch_size)
    n = args.n - len(report["excluded_keys"])
    report["n_scored"] = n
    report["model_folder"] = str(saved_model_folder())  # the one-time GGUF conversion stays out of the timings
    if "lm_eval" in phases:
        stamp("lm_eval", "start")
        model_dir = saved_model_folder()
        report["lm_eval"] = run_lmeval(model_dir, data, n, args.max_new_tokens)
        report["lm_eval_table"] = report["lm_eval"].pop("table")
        stamp("lm_eval", "end")
        save()
    if "rlit" in phases:
        shutil.rmtree(work / "cache", ignore_errors=True)  # a fresh generation cache
        stamp("rlit", "start")
        report["rlit_first"] = run_rlit(suite, n, work / "cache", work / "out1")
        stamp("rlit", "end")
        save()
    if "rlit_first" in report and "lm_eval" in report:
        a, b = report["rlit_first"], report["lm_eval"]
        report["score_diff_points"] = {k: round(100 * (a["scores"][k] - b["scores"][k]), 2) if b["scores"][k] is not None else None
                                       for k in EVALS}
        report["time_ratio_rlit_over_lm_eval"] = round(a["wall_s"] / b["wall_s"], 3)
        report["cpu_ratio_rlit_over_lm_eval"] = round(a["cpu_s"] / b["cpu_s"], 3)
        save()
    if "rerun" in phases:
        stamp("rerun", "start")
        report["rlit_cached_rerun"] = run_rlit(suite, n, work / "cache", work / "out2")
        stamp("rerun", "end")
        report["rerun_ratio"] = round(report["rlit_cached_rerun"]["wall_s"] / report["rlit_first"]["wall_s"], 4)
        report["rerun_cpu_ratio"] = round(report["rlit_cached_rerun"]["cpu_s"] / report["rlit_first"]["cpu_s"], 4)
        save()
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    if "rerun" in phases:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
