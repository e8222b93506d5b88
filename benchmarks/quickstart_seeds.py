"""The quick start in independent draws: does PPO's held-out gain clear 0 whatever the seed?

Each draw is ``rlit pipeline --config examples/quickstart/pipeline.toml --seed N``: a new tiny
model, SFT run, preference pairs, reward model, PPO run and held-out sampling, all from seed N
(docs/pipeline.md, "Seeds"), in a fresh run folder with an empty generation cache of its own.

The draws run from a clone of the repository at one commit (``--clone``, made on first use), so
edits in the working checkout cannot change the code mid-run: the shared venv's python with
PYTHONPATH pointing at the clone and its plugins (checked: every rlit module imported is the
clone's). ``--jobs`` draws at a time, each on one thread and ``nice -n 10``.

Resumable: a draw with a summary.json is finished and not rerun; an interrupted one resumes
(the pipeline skips its finished stages). The table (``--out``) is rewritten after every draw;
``--table-only`` rewrites it from the draw folders without running anything, and
``--check-table RUN`` smoke-checks the table code on one finished pipeline run folder.

Usage:
    python benchmarks/quickstart_seeds.py --steps 160 [--seeds 0-8] [--jobs 2] \\
        [--clone /tmp/qs_clone] [--work /tmp/qs_draws] [--out benchmarks/results/quickstart_seeds.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVAL = "ifeval-prompt-loose-sampled"  # the quick start's criterion (examples/quickstart/heldout.toml)
GREEDY = "ifeval-prompt-loose"  # greedy decoding, reported beside it
# Runs the CLI with torch on one thread (OMP_NUM_THREADS covers the BLAS pools, this the intra-op one).
LAUNCH = "import sys, torch; torch.set_num_threads(1); sys.argv[0] = 'rlit'; from rlit.cli import main; main()"


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def ensure_clone(clone: Path, commit: str | None) -> str:
    """Clone the checkout at ``commit`` (default: its HEAD) once; later runs must find the same commit."""
    if not clone.exists():
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        if commit:
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    if commit and not head.startswith(commit):
        sys.exit(f"{clone} is at {head[:10]}, not {commit}: use another --clone folder")
    dirty = subprocess.run(["git", "-C", str(clone), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    if dirty.strip():
        sys.exit(f"{clone} has local edits: the draws must run one commit's code")
    return head


def clone_env(clone: Path, cache: Path) -> dict[str, str]:
    # The venv's editable finders come after sys.path, so PYTHONPATH's clone wins over /work/main.
    paths = [str(clone)] + [str(p) for p in sorted((clone / "plugins").iterdir()) if p.is_dir()]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", "RLIT_CACHE_DIR": str(cache)}


def check_imports(clone: Path, work: Path) -> None:
    """Fail unless rlit and every plugin module loaded by the pipeline come from the clone."""
    code = ("import json, sys; from rlit.pipeline import load_pipeline_config; from rlit.plugins import get_registry;"
            "get_registry(); print(json.dumps({n: getattr(m, '__file__', None) for n, m in list(sys.modules.items())"
            " if n.split('.')[0].startswith('rlit')}))")
    # cwd: `python -c` puts the current folder first on sys.path, so the draws never run from a checkout
    proc = subprocess.run([sys.executable, "-c", code], env=clone_env(clone, work / "cache-check"), capture_output=True, text=True, cwd=work)
    if proc.returncode:
        sys.exit(f"importing rlit from {clone} failed:\n{proc.stderr[-2000:]}")
    files = {n: f for n, f in json.loads(proc.stdout.strip().splitlines()[-1]).items() if f}
    outside = sorted(n for n, f in files.items() if not str(Path(f).resolve()).startswith(str(clone.resolve())))
    if outside or "rlit" not in files:
        sys.exit(f"modules not from the clone {clone}: {outside[:10]}")
    print(f"imports: {len(files)} rlit modules, all from {clone}", flush=True)


def start_draw(seed: int, clone: Path, work: Path, steps: int | None) -> tuple[subprocess.Popen, float]:
    draw = work / f"seed-{seed}"
    draw.mkdir(parents=True, exist_ok=True)
    cmd = ["nice", "-n", "10", sys.executable, "-c", LAUNCH, "pipeline", "--config", str(clone / "examples/quickstart/pipeline.toml"),
           "--seed", str(seed), "--out", str(draw / "run")] + ([] if steps is None else ["--set", f"ppo.ppo.steps={steps}"])
    log = open(draw / "log.txt", "a", encoding="utf-8")
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    print(f"seed {seed}: started", flush=True)
    return subprocess.Popen(cmd, env=clone_env(clone, draw / "cache"), stdout=log, stderr=subprocess.STDOUT, cwd=draw), time.time()


def finish_draw(seed: int, work: Path, proc: subprocess.Popen, started: float, meta: dict) -> None:
    draw = work / f"seed-{seed}"
    wall = time.time() - started
    record_file = draw / "draw.json"
    old = json.loads(record_file.read_text()) if record_file.exists() else {"wall_seconds": []}
    old["wall_seconds"].append(round(wall, 1))  # one entry per invocation (a resumed draw has several)
    old.update(meta, returncode=proc.returncode, load_avg_at_end=[round(x, 2) for x in os.getloadavg()])
    record_file.write_text(json.dumps(old, indent=1))
    print(f"seed {seed}: exit {proc.returncode} after {wall:.0f}s", flush=True)


def draw_row(draw: Path) -> dict | None:
    """One finished draw's numbers (None while unfinished), read from the pipeline's own outputs."""
    summary_file = draw / "run" / "summary.json"
    if not summary_file.exists():
        return None
    summary = json.loads(summary_file.read_text())
    comparison = summary["after"].get("comparison") or {}
    cmp, greedy = comparison[EVAL], comparison.get(GREEDY)
    stage_s = sum(json.loads(f.read_text()).get("seconds", 0.0) for f in (draw / "run").glob("*/stage.json"))
    meta = json.loads((draw / "draw.json").read_text()) if (draw / "draw.json").exists() else {}
    return {"seed": summary.get("seed"), "before": summary["before"]["values"][EVAL], "after": summary["after"]["values"][EVAL],
            "gain": cmp["diff"], "ci": cmp["ci"], "n": cmp["n_pairs"], "stage_seconds": stage_s,
            "ppo_seconds": summary["stage_seconds"].get("ppo"), "wall": sum(meta.get("wall_seconds", [])) or None,
            "steps": meta.get("steps") or _ppo_steps(draw), "commit": meta.get("commit"), "rm_accuracy": _rm_accuracy(draw),
            "rm_used": (summary.get("reward_model_gate") or {}).get("used", True), "resumed": _resumed(draw),
            "greedy": None if greedy is None else (greedy["diff"], greedy["ci"])}


def _ppo_steps(draw: Path) -> int | None:
    f = draw / "run" / "ppo" / "config.json"
    return json.loads(f.read_text()).get("ppo", {}).get("steps") if f.exists() else None


def _resumed(draw: Path) -> bool:
    """Whether the draw was interrupted and resumed: its times then miss the interrupted part."""
    log = draw / "log.txt"
    return log.exists() and "interrupted (" in log.read_text(encoding="utf-8", errors="replace")


def _rm_accuracy(draw: Path) -> float | None:
    f = draw / "run" / "reward-model" / "stage.json"
    return json.loads(f.read_text()).get("accuracy") if f.exists() else None


def write_table(work: Path, seeds: list[int], out: Path, jobs: int) -> None:
    rows = {s: draw_row(work / f"seed-{s}") for s in seeds}
    done = [r for r in rows.values() if r]
    clear = sum(1 for r in done if r["ci"][0] > 0)
    steps = sorted({r["steps"] for r in done if r["steps"]}) or ["?"]
    commits = sorted({(r["commit"] or "?")[:10] for r in done}) or ["?"]
    lines = [
        "# The quick start in independent draws",
        "",
        f"`python benchmarks/quickstart_seeds.py`: `rlit pipeline --config examples/quickstart/pipeline.toml --seed N`, "
        f"PPO steps {', '.join(map(str, steps))}, code at commit {', '.join(commits)}; each draw a fresh run folder and empty cache, "
        f"{jobs} draws at a time, each on one thread under `nice -n 10` on a 2-core machine.",
        "",
        f"Criterion: the 95% paired-bootstrap interval of the gain in `{EVAL}` (held-out prompt-level loose accuracy, "
        "4 samples per prompt at temperature 0.7) lies above 0.",
        "",
        f"**{clear} of {len(done)} clear** ({len(seeds) - len(done)} of {len(seeds)} draws unfinished).",
        "",
        "| seed | before | after | gain | 95% paired CI | clears 0 | prompts | greedy gain [95%] | RM acc. (in reward) | pipeline s (stages) | PPO s | wall s |",
        "|---:|---:|---:|---:|---|:---:|---:|---|---:|---:|---:|---:|",
    ]
    for s, r in rows.items():
        if r is None:
            lines.append(f"| {s} | - | - | - | - | unfinished | - | - | - | - | - | - |")
            continue
        acc = "-" if r["rm_accuracy"] is None else f"{r['rm_accuracy']:.2f} ({'yes' if r['rm_used'] else 'no'})"
        greedy = "-" if r["greedy"] is None else f"{r['greedy'][0]:+.3f} [{r['greedy'][1][0]:+.3f}, {r['greedy'][1][1]:+.3f}]"
        mark = "*" if r["resumed"] else ""
        lines.append(f"| {s} | {r['before']:.3f} | {r['after']:.3f} | {r['gain']:+.3f} | [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}] | "
                     f"{'yes' if r['ci'][0] > 0 else 'no'} | {r['n']} | {greedy} | {acc} | {r['stage_seconds']:.0f}{mark} | {r['ppo_seconds'] or 0:.0f}{mark} | "
                     f"{'-' if r['wall'] is None else format(r['wall'], '.0f')}{mark} |")
    lines += ["", "Pipeline s: the sum of the stages' own times (summary.json, stage.json); wall s: the whole command, "
              "process start included. Both are two draws sharing two cores on one thread each, not the quiet-machine "
              "budget's conditions (one run, two threads). RM acc.: the reward model's held-out pairwise accuracy, and whether "
              "[reward_model_gate] let it into the PPO reward. *: the draw was interrupted (SIGTERM) and resumed from its stage markers and PPO "
              "checkpoint; its stage times cover only what ran after the interrupt in the interrupted stage, its wall time only the resumed command.", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(out)  # a reader never sees half a table


def run_draws(seeds: list[int], clone: Path, work: Path, steps: int | None, jobs: int, out: Path, commit: str) -> None:
    todo = [s for s in seeds if draw_row(work / f"seed-{s}") is None]
    print(f"{len(seeds) - len(todo)} draws finished earlier; to run: {todo}", flush=True)
    running: dict[int, tuple[subprocess.Popen, float]] = {}
    while todo or running:
        while todo and len(running) < jobs:
            s = todo.pop(0)
            running[s] = start_draw(s, clone, work, steps)
        time.sleep(10)
        for s, (proc, started) in list(running.items()):
            if proc.poll() is not None:
                finish_draw(s, work, proc, started, {"steps": steps, "commit": commit, "seed": s})
                del running[s]
                write_table(work, seeds, out, jobs)


def check_table(run: Path) -> None:
    """Smoke check of the table code on one finished pipeline run folder (linked as seed 0 of a temporary work folder)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        draw = Path(tmp) / "seed-0"
        draw.mkdir()
        (draw / "run").symlink_to(run.resolve())
        out = Path(tmp) / "table.md"
        write_table(Path(tmp), [0, 1], out, 2)
        text = out.read_text()
        row, missing = draw_row(draw), [line for line in text.splitlines() if line.startswith("| 1 |")]
        assert row is not None and isinstance(row["gain"], float) and len(row["ci"]) == 2, row
        assert f"{row['gain']:+.3f}" in text and "unfinished" in missing[0] and "of 1 clear" in text, text
        print(text)
    print(f"table check passed on {run}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None, help="PPO steps ([ppo.ppo] steps); default: the config's own")
    ap.add_argument("--seeds", default="0-8")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--clone", type=Path, default=Path("/tmp/qs_clone"))
    ap.add_argument("--commit", default=None, help="commit for a new clone (default: the checkout's HEAD)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/qs_draws"), help="draw folders (run, cache, log), outside the repo")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "quickstart_seeds.md")
    ap.add_argument("--table-only", action="store_true", help="rewrite the table from the draw folders; run nothing")
    ap.add_argument("--check-table", type=Path, metavar="RUN", help="smoke-check the table code on a finished pipeline run folder; run nothing")
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    if args.check_table:
        return check_table(args.check_table)
    if args.table_only:
        write_table(args.work, seeds, args.out, args.jobs)
        print(args.out.read_text())
        return
    commit = ensure_clone(args.clone, args.commit)
    args.work.mkdir(parents=True, exist_ok=True)
    check_imports(args.clone, args.work)
    run_draws(seeds, args.clone, args.work, args.steps, args.jobs, args.out, commit)
    write_table(args.work, seeds, args.out, args.jobs)


if __name__ == "__main__":
    main()
