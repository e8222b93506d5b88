"""Conformance and throughput of rlit-rules' ``ifeval`` source against IFEval's reference.

    python benchmarks/ifeval_conformance.py --data /path/to/ifeval

``--data`` is a folder with IFEval's ``input_data.jsonl``, a responses file
(``gpt4_responses.jsonl``: ``prompt``, ``response``) and the reference evaluator's verdicts
(``gpt4_reference_eval_strict.jsonl`` / ``_loose.jsonl``). The data is read, never copied.

1. Agreement with the reference, strict and loose, per instruction and per prompt (and per
   instruction type). Prompts whose kwargs leave lm-eval's checker to draw a random value (two
   IFEval prompts ask for the frequency of a "letter" that is not a-z: the reference evaluator
   replaces it with a random letter) and prompts without a reference verdict are left out, and
   listed.
2. Throughput on the kept rows replicated to >= --rows, in one run: lm-eval's own
   ``process_results`` loop (strict + loose, one core), the source with 1 worker and with
   --workers workers (strict + loose scored; the pool is started by a warm-up pass and reused,
   as a long-lived source reuses it). Best of --repeats interleaved passes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections import defaultdict
from contextlib import redirect_stdout
from pathlib import Path

from rlit.errors import DataError

from rlit_rules.ifeval import IFEvalSource


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_rows(data: Path) -> tuple[list[dict], list[str]]:
    """Rows with prompt, response, ids, kwargs and reference verdicts; plus notes on exclusions."""
    inputs = read_jsonl(data / "input_data.jsonl")
    responses = {r["prompt"]: r["response"] for r in read_jsonl(data / "gpt4_responses.jsonl")}
    strict = {r["prompt"]: r for r in read_jsonl(data / "gpt4_reference_eval_strict.jsonl")}
    loose = {r["prompt"]: r for r in read_jsonl(data / "gpt4_reference_eval_loose.jsonl")}
    rows, notes = [], []
    from rlit_rules.ifeval_checkers import parse_row

    for doc in inputs:
        prompt = doc["prompt"]
        if prompt not in responses or prompt not in strict or prompt not in loose:
            notes.append(f"key {doc['key']}: no response or no reference verdict")
            continue
        try:
            parse_row(0, doc["instruction_id_list"], doc["kwargs"])
        except DataError as exc:
            notes.append(f"key {doc['key']}: verdict left to chance ({str(exc).split(': ', 2)[-1][:90]}...)")
            continue
        rows.append({**doc, "response": responses[prompt], "ref_strict": strict[prompt]["follow_instruction_list"],
                     "ref_loose": loose[prompt]["follow_instruction_list"]})
    return rows, notes


def agreement(rows: list[dict], mode: str, say) -> None:
    source = IFEvalSource(mode=mode, workers=1)
    evaluated = source.evaluate([r["response"] for r in rows], instruction_id_list=[r["instruction_id_list"] for r in rows],
                                kwargs=[r["kwargs"] for r in rows])
    per_type = defaultdict(lambda: [0, 0])
    inst_agree = inst_total = prompt_agree = 0
    for row, (ids, followed) in zip(rows, evaluated):
        reference = row[f"ref_{mode}"]
        for instruction_id, ours, ref in zip(ids, followed, reference):
            per_type[instruction_id][0] += ours == ref
            per_type[instruction_id][1] += 1
        inst_agree += sum(o == r for o, r in zip(followed, reference))
        inst_total += len(reference)
        prompt_agree += all(followed) == all(reference)
    say(f"{mode:6s} per instruction: {inst_agree}/{inst_total} = {100 * inst_agree / inst_total:.2f}%   "
        f"per prompt: {prompt_agree}/{len(rows)} = {100 * prompt_agree / len(rows):.2f}%")
    if mode == "strict":
        say(f"       ({len(per_type)} instruction types present; disagreements per type listed below, if any)")
    disagreeing = {k: v for k, v in per_type.items() if v[0] != v[1]}
    for instruction_id, (agree, total) in sorted(disagreeing.items()):
        say(f"       disagrees on {instruction_id}: {agree}/{total}")
    return per_type


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def free_parallelism(workers: int) -> float:
    """Speed-up a trivially parallel pure-Python loop gets from ``workers`` processes right now:
    the ceiling for any scorer on this machine at this moment (other processes share the cores)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jobs = [1_000_000] * (4 * workers)
    start = time.perf_counter()
    for n in jobs:
        _spin(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_spin, jobs[:workers]))  # start the workers before timing
        start = time.perf_counter()
        list(pool.map(_spin, jobs))
        parallel = time.perf_counter() - start
    return serial / parallel


def throughput(rows: list[dict], min_rows: int, workers: int, repeats: int, say) -> None:
    from lm_eval.tasks.ifeval.utils import process_results

    copies = -(-min_rows // len(rows))
    batch = rows * copies
    texts = [r["response"] for r in batch]
    columns = {"instruction_id_list": [r["instruction_id_list"] for r in batch], "kwargs": [r["kwargs"] for r in batch]}
    say(f"\nthroughput: {len(batch)} rows ({len(rows)} kept rows x {copies}), strict + loose verdicts for each row, "
        f"one warm-up pass then best of {repeats} interleaved passes; os.cpu_count()={os.cpu_count()}, "
        f"load average before: {os.getloadavg()[0]:.2f}; a pure-Python loop gets x{free_parallelism(workers):.2f} "
        f"from {workers} processes now")

    def lm_eval_loop():
        with redirect_stdout(io.StringIO()):
            for r in batch:
                process_results(r, [r["response"]])

    opened: list[IFEvalSource] = []

    def ours(n_workers: int):
        # Sources live as long as a training run or an eval, so their worker pool is started
        # by the warm-up pass and reused, as it would be in use.
        sources = [IFEvalSource(mode=mode, workers=n_workers) for mode in ("strict", "loose")]
        opened.extend(sources)
        return lambda: [s.score([""] * len(texts), texts, **columns) for s in sources]

    runs = {
        "lm-eval process_results (1 core)": lm_eval_loop,
        "rlit ifeval, workers=1": ours(1),
        f"rlit ifeval, workers={workers}": ours(workers),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for attempt in range(repeats + 1):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if attempt:  # attempt 0 is the warm-up
                times[name].append(time.perf_counter() - start)
    for source in opened:
        source.close()
    best = {name: min(t) for name, t in times.items()}
    reference = best["lm-eval process_results (1 core)"]
    single = best["rlit ifeval, workers=1"]
    for name, seconds in best.items():
        say(f"  {name:34s} {len(batch) / seconds:8.1f} rows/s  ({seconds:6.2f} s)  "
            f"x{reference / seconds:.2f} vs lm-eval  x{single / seconds:.2f} vs workers=1")
    say(f"  load average after: {os.getloadavg()[0]:.2f}; a pure-Python loop got x{free_parallelism(workers):.2f} from "
        f"{workers} processes at the end (the ceiling for any scorer while other processes share the cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with IFEval's input, responses and reference verdicts")
    parser.add_argument("--rows", type=int, default=2000, help="replicate the kept rows to at least this many for timing")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the parallel timing")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes after the warm-up (best is reported)")
    parser.add_argument("--no-throughput", action="store_true", help="only the agreement figures")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "ifeval_conformance.txt")
    args = parser.parse_args()
    if not (args.data / "input_data.jsonl").is_file():
        sys.exit(f"error: {args.data / 'input_data.jsonl'} not found (--data must be IFEval's folder)")

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    rows, notes = load_rows(args.data)
    say(f"IFEval conformance of rlit-rules' ifeval source ({len(rows)} prompts kept, {len(notes)} left out):")
    for note in notes:
        say(f"  left out: {note}")
    for mode in ("strict", "loose"):
        agreement(rows, mode, say)
    if not args.no_throughput:
        throughput(rows, args.rows, args.workers, args.repeats, say)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
