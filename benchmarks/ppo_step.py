"""The quick start's PPO step, timed against another commit's code in one run, with a profile.

The step is the one ``examples/quickstart/pipeline.toml`` runs: its ``[ppo]`` table as written
(batch 64 = 16 prompts x 4, 96 new tokens at temperature 1.0, value head on the policy, one epoch
in two minibatches, PPO-ptx on 8 demonstrations, rules + reward model + toxicity veto) on the quick
start's SFT model (GPT-2, 2 layers, d=192, vocabulary 4,096). Pass the quick start's own folders
(``runs/quickstart/sft/model`` and ``runs/quickstart/reward-model/model`` after ``scripts/demo.sh``);
without ``--reward-model`` the reward-model term is left out.

Each arm runs in its own subprocess with ``PYTHONPATH`` at a checkout (``--prev REV`` makes a
``git worktree`` of that commit; the current arm is this working tree), takes one untimed warm-up
step and then ``--steps`` timed ones. Arms alternate (prev, current, prev, ...) ``--repeats``
times so a shared machine's drift hits both alike; the figure is the median over runs of each
run's median step. Both arms start from the same seed, so their step logs are compared too.
Then one more current-code step runs under torch.profiler and the top operators are printed.

    python benchmarks/ppo_step.py --policy runs/quickstart/sft/model \\
        --reward-model runs/quickstart/reward-model/model --prev HEAD~1 [--steps 5] [--repeats 3]

Threads: ``OMP_NUM_THREADS`` (default 1 here, as the other benchmarks on the shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "examples" / "quickstart" / "pipeline.toml"
PHASES = ("rollout", "scoring", "advantages", "update", "step", "cpu")
COMPARED = ("reward/total", "reward/score", "loss/policy", "loss/value", "loss/ptx", "objective/kl", "response/length", "grad_norm")


def _run_config(policy: str, reward_model: str | None, run_dir: str, steps: int):
    """The quick start's PPO run config with this policy, reward model and run folder."""
    import tomllib

    from rlit.training.ppo.config import ppo_config_from_dict

    data = tomllib.loads(PIPELINE.read_text())["ppo"]
    data["model"]["policy"] = policy
    data["output"] = {**data.get("output", {}), "dir": run_dir, "save_every": 0}
    data["ppo"]["steps"] = max(data["ppo"]["steps"], data["ppo"].get("critic_warmup_steps", 0) + steps + 3)
    sources = []
    for source in data["reward"]["sources"]:
        if source["name"] == "reward-model":
            if reward_model is None:
                continue
            source.setdefault("options", {})["model"] = reward_model
        sources.append(source)
    data["reward"]["sources"] = sources
    return ppo_config_from_dict(data, str(PIPELINE), PIPELINE.parent)


def worker(args: argparse.Namespace) -> None:
    """One arm: warm-up step, then timed steps; prints one JSON line."""
    import torch

    import rlit
    from rlit.training.ppo.trainer import PPOTrainer

    with tempfile.TemporaryDirectory() as tmp:
        cfg = _run_config(args.policy, args.reward_model, f"{tmp}/ppo", args.steps)
        trainer = PPOTrainer(cfg)
        trainer.step = cfg.ppo.critic_warmup_steps  # time the policy's steps, not the critic's warm-up
        records = []
        for _ in range(args.steps + 1):
            trainer.step += 1
            cpu = time.process_time()
            records.append(trainer.train_step())
            records[-1]["time/cpu"] = time.process_time() - cpu  # less sensitive than wall time to a busy machine
        if args.profile:
            print(profile_step(trainer), file=sys.stderr)
    keep = lambda r: {k: r.get(k) for k in ("step", *COMPARED, *(f"time/{p}" for p in PHASES))}
    print(json.dumps({"rlit": rlit.__file__, "threads": torch.get_num_threads(), "steps": [keep(r) for r in records]}))


def profile_step(trainer) -> str:
    """One more step under torch.profiler: the operators that take the time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.step += 1
        rec = trainer.train_step()
    phases = ", ".join(f"{p} {rec[f'time/{p}']:.3f}" for p in PHASES[:5])
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=48)
    return f"profiled step (phases, s, profiler overhead included): {phases}\n{table}"


def run_arm(checkout: Path, args: argparse.Namespace, profile: bool = False) -> dict:
    plugins = [str(p) for p in sorted((checkout / "plugins").glob("*")) if p.is_dir()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), *plugins]), "OMP_NUM_THREADS": args.threads}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--policy", args.policy, "--steps", str(args.steps)]
    if args.reward_model:
        cmd += ["--reward-model", args.reward_model]
    if profile:
        cmd.append("--profile")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=checkout)
    if proc.returncode != 0:
        sys.exit(f"arm at {checkout} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["rlit"].startswith(str(checkout)):
        sys.exit(f"the arm at {checkout} imported rlit from {out['rlit']}")
    out["stderr"] = proc.stderr
    return out


def medians(steps: list[dict]) -> dict[str, float]:
    return {p: statistics.median(s[f"time/{p}"] for s in steps[1:]) for p in PHASES}


def compare(a: list[dict], b: list[dict]) -> list[str]:
    """Per-step differences of the logged values (same seed: equal up to float rounding until a sample flips)."""
    lines = []
    for x, y in zip(a, b):
        diffs = {k: abs(x[k] - y[k]) for k in COMPARED if isinstance(x.get(k), (int, float)) and isinstance(y.get(k), (int, float))}
        worst = max(diffs, key=diffs.get) if diffs else None
        lines.append(f"  step {x['step']}: largest |prev - current| {worst} {diffs.get(worst, 0):.2e}; "
                     f"reward/total {x.get('reward/total')} vs {y.get('reward/total')}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", required=True, help="the quick start's SFT model folder (runs/quickstart/sft/model)")
    ap.add_argument("--reward-model", help="the quick start's reward model folder; unset = no reward-model term")
    ap.add_argument("--prev", help="git revision to time against (a worktree is made for it)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run (after one untimed warm-up step)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default=os.environ.get("OMP_NUM_THREADS", "1"))
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ppo_step.txt")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.policy = str(Path(args.policy).resolve())
    args.reward_model = str(Path(args.reward_model).resolve()) if args.reward_model else None
    if args.worker:
        return worker(args)

    lines: list[str] = []

    def say(msg: str = "") -> None:
        print(msg, flush=True)
        lines.append(msg)

    arms: dict[str, Path] = {"current": REPO}
    if args.prev:
        rev = subprocess.run(["git", "rev-parse", "--short", args.prev], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        prev_dir = Path(tempfile.mkdtemp(prefix="rlit-ppo-prev-"))
        subprocess.run(["git", "worktree", "add", "--detach", str(prev_dir), rev], cwd=REPO, check=True, capture_output=True)
        arms = {f"prev ({rev})": prev_dir, "current": REPO}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    say(f"# the quick start's PPO step ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    say(f"current = working tree at {head}{' + uncommitted changes' if _dirty() else ''}; {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={args.threads}, load average at start {os.getloadavg()[0]:.1f}")
    say(f"policy {args.policy}; reward model {args.reward_model or '(none: term left out)'}; "
        f"{args.steps} timed steps per run after a warm-up step, {args.repeats} alternating runs per arm")
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    try:
        for r in range(args.repeats):
            for arm, checkout in arms.items():
                out = run_arm(checkout, args)
                runs[arm].append(out)
                med = medians(out["steps"])
                say(f"run {r + 1} {arm}: per-step s {[round(s['time/step'], 3) for s in out['steps'][1:]]} -> median {med['step']:.3f}")
    finally:
        if args.prev:
            subprocess.run(["git", "worktree", "remove", "--force", str(prev_dir)], cwd=REPO, capture_output=True)
    say()
    summary = {arm: {p: statistics.median(medians(o["steps"])[p] for o in outs) for p in PHASES} for arm, outs in runs.items()}
    for arm, med in summary.items():
        say(f"{arm}: median s per phase: " + ", ".join(f"{p} {med[p]:.3f}" for p in PHASES))
    if len(arms) == 2:
        prev, cur = list(summary)
        say(f"ratio current / {prev}: step {summary[cur]['step'] / summary[prev]['step']:.2f}x, process CPU per step "
            f"{summary[cur]['cpu'] / summary[prev]['cpu']:.2f}x; per phase: "
            + ", ".join(f"{p} {summary[cur][p] / summary[prev][p]:.2f}x" for p in PHASES[:4]))
        say(f"per-run step ratios: {[round(medians(c['steps'])['step'] / medians(p['steps'])['step'], 2) for p, c in zip(runs[prev], runs[cur])]}")
        say("same seed, step logs of the first run of each arm (warm-up step included):")
        for line in compare(runs[prev][0]["steps"], runs[cur][0]["steps"]):
            say(line)
    say()
    prof = run_arm(REPO, args, profile=True)["stderr"]
    say("\n".join(l for l in prof.splitlines() if l.startswith(("profiled", "-", "Name", " ", "Self")) or "  " in l))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}")


def _dirty() -> bool:
    res = subprocess.run(["git", "status", "--porcelain", "--", "rlit"], cwd=REPO, capture_output=True, text=True)
    return bool(res.stdout.strip())


if __name__ == "__main__":
    main()
