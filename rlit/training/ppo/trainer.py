"""The PPO loop (thin): rollout -> reward -> advantages -> update -> log, checkpoint, evaluate, watch.

Python use::

    from rlit.training.ppo import train_ppo
    summary = train_ppo("ppo.toml", resume=False)

Runs under ``accelerate launch`` unchanged: each process samples its own share of every batch.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rlit.atomic import check_writable, write_json
from rlit.errors import ConfigError
from rlit.interrupts import keeping
from rlit.plugins import load_reward
from rlit.training.ppo import checkpoint as ckpt
from rlit.training.ppo.advantages import AdaptiveKL, compute_advantages, leave_one_out_scores
from rlit.training.ppo.config import PPORunConfig, load_ppo_config
from rlit.training.ppo.data import PromptStream, read_prompt_rows
from rlit.training.ppo.evalhook import PolicyEval, run_eval
from rlit.training.ppo.models import PPOModels, load_models
from rlit.training.ppo.ptx import PtxData
from rlit.training.ppo.resume import check_resume, describe, fingerprint
from rlit.training.ppo.rollout import Rollout, generate_rollout, token_logprobs
from rlit.training.ppo.steplog import StepLog, console_line, read_steps
from rlit.training.ppo.update import Learner, UpdateBatch, ppo_update
from rlit.training.ppo.watch import HackingWatch


def _seeded(seed: int, step: int, stream: int, device: torch.device) -> torch.Generator:
    """An independent generator per (step, purpose, process): resumable without saved generator state."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step * 101 + stream)


def _lr_lambda(cfg: PPORunConfig):
    steps, warm, linear = cfg.ppo.steps, cfg.ppo.warmup_steps, cfg.ppo.lr_schedule == "linear"

    def factor(i: int) -> float:
        if warm and i < warm:
            return (i + 1) / warm
        return max(0.0, 1.0 - i / steps) if linear else 1.0

    return factor


def _accelerator(accelerator_class: Any, device: str) -> Any:
    """The run's ``Accelerator``; a launch of several processes that it would not join is an error.

    Without a GPU, accelerate forms a multi-process (gloo) group only when told to run on the CPU;
    otherwise every process of ``torchrun``/``accelerate launch`` would train alone, and all of
    them would write the same run folder.
    """
    gpu = torch.cuda.is_available() or torch.backends.mps.is_available()
    acc = accelerator_class(cpu=device == "cpu" or (device == "auto" and not gpu))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > 1 and acc.num_processes != launched:
        raise ConfigError(f"[model] device = {device!r}: launched as {launched} processes, but accelerate "
                          f"joined {acc.num_processes}; set device = \"auto\" (or \"cpu\" on a machine without GPUs)")
    return acc


def _deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True)``, with the cuBLAS workspace setting it needs on GPUs.

    cuBLAS reads CUBLAS_WORKSPACE_CONFIG when CUDA starts, so it can only be set for the user
    before then; later, a missing setting is an error rather than a silently inexact resume.
    """
    if not torch.cuda.is_initialized():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif torch.cuda.is_available() and not os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        raise ConfigError("[ppo] deterministic = true: CUDA was started before PPO without CUBLAS_WORKSPACE_CONFIG; "
                          "run with CUBLAS_WORKSPACE_CONFIG=:4096:8 in the environment")
    torch.use_deterministic_algorithms(True)


class PPOTrainer:
    """Holds the run's models, optimiser, data stream and logs; :meth:`train` runs the loop."""

    def __init__(self, cfg: PPORunConfig, *, reward: Any = None, resume: bool = False, console: Any = None,
                 accept_config_change: bool = False, resume_hint: str = "rerun with --resume"):
        from accelerate import Accelerator

        self.cfg = cfg
        self.resume_hint = resume_hint  # the pipeline continues by rerunning itself
        self.console = console or Console()
        torch.manual_seed(cfg.ppo.seed)
        if cfg.ppo.deterministic:
            _deterministic_algorithms()
        self.acc = _accelerator(Accelerator, cfg.model.device)
        self.run_dir = Path(cfg.output.dir)
        # Cheap checks first: an unwritable run folder, a bad prompts file or reward config, or a
        # checkpoint that does not fit this config fails before any model loads.
        if self.acc.is_main_process:
            check_writable(self.run_dir, "[output] dir", folder=True)
        self.stream = PromptStream(read_prompt_rows(cfg.data.train, cfg.data.prompt_column), cfg.ppo.seed, cfg.data.shuffle)
        self.reward = reward if reward is not None else load_reward(cfg.reward)
        self.checkpoint, self.config_changes = self._checkpoint_to_resume(resume, accept_config_change)
        self.models: PPOModels = load_models(cfg.model, self.acc.device)
        self.ptx = self._ptx_data()
        value_module = self.models.value_module()
        policy_params = [p for p in self.models.policy.parameters() if p.requires_grad]
        critic_params = list(value_module.parameters())
        self.params = policy_params + critic_params
        critic_lr = cfg.ppo.critic_learning_rate if cfg.ppo.critic_learning_rate is not None else cfg.ppo.learning_rate
        groups = [{"params": policy_params, "lr": cfg.ppo.learning_rate}, {"params": critic_params, "lr": critic_lr}]
        self._group_lrs = [g["lr"] for g in groups if g["params"]]  # the config's rates, re-applied after a restore
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=cfg.ppo.weight_decay,
                                      fused=self.acc.device.type in ("cpu", "cuda") and self.params[0].dtype == torch.float32)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
        self.policy, self.value_module, self.optimizer = self.acc.prepare(self.models.policy, value_module, optimizer)
        shared = self.models.value_head is not None
        self.learner = Learner(self.policy, None if shared else self.value_module, self.value_module if shared else None,
                               self.optimizer, self.acc, self.params)
        self.kl = AdaptiveKL(cfg.ppo.kl_coef, cfg.ppo.target_kl, cfg.ppo.kl_horizon)
        self.watch = HackingWatch(cfg.watch)
        self.evals: list[PolicyEval] = []
        self.step = 0
        self.fingerprint = fingerprint(cfg)
        self._restore_or_start(resume)

    # -- set-up -------------------------------------------------------------------------------
    def _checkpoint_to_resume(self, resume: bool, accept: bool) -> tuple[ckpt.Checkpoint | None, list[dict[str, Any]]]:
        """The newest readable checkpoint (read, not applied) and the config changes accepted against it."""
        if not resume:
            if ckpt.complete_checkpoints(self.run_dir):
                raise ConfigError(f"{self.run_dir} already holds checkpoints: pass --resume to continue, or set another [output] dir")
            return None, []
        found = ckpt.read_newest(self.run_dir, warn=lambda line: print(line, file=sys.stderr, flush=True))
        if found is None:
            return None, []
        changes = check_resume(found.state.get("config"), self.cfg, found.state["step"], accept)
        return found, found.state.get("config_changes", []) + changes

    def _restore_or_start(self, resume: bool) -> None:
        found = self.checkpoint
        if found is not None:
            state = ckpt.apply_checkpoint(found, policy=self._unwrapped(), value_module=self.acc.unwrap_model(self.value_module),
                                          optimizer=self.optimizer, scheduler=self.scheduler)
            self._hyperparameters_from_config()
            self.step = state["step"]
            self.stream.position = state["data_position"]
            if self.ptx is not None:
                self.ptx.stream.position = state.get("ptx_position", 0)
            self.kl.value = state["kl_coef"]
            self.evals = [PolicyEval.model_validate(e) for e in state.get("evals", [])]
            self.watch.load_state_dict(state.get("watch", {}))
            if state.get("reward_state") is not None and hasattr(self.reward, "load_state_dict"):
                self.reward.load_state_dict(state["reward_state"])
            self.console.print(f"resuming from {found.path} (step {self.step})")
            for c in self.config_changes:
                if c["step"] == self.step:
                    self.console.print(f"--accept-config-change: {describe(c['key'])} {c['checkpoint']!r} -> {c['config']!r} from step {self.step}")
        elif resume:
            self.console.print(f"no checkpoint under {self.run_dir}: starting from step 0")
        self.log = StepLog(self.run_dir / "steps.jsonl", self.step if found is not None else None)
        if self.acc.is_main_process:
            # config.json shows the values this run uses; accepted changes are listed beside it.
            write_json(self.run_dir / "config.json", self.cfg.to_dict())
            if self.config_changes:
                write_json(self.run_dir / "config-changes.json", self.config_changes)

    def _hyperparameters_from_config(self) -> None:
        """After a restore, the optimiser runs on the config's values, not the checkpoint's copy of
        them (equal unless a change was accepted; the schedule then also follows a new ``steps``)."""
        factor = _lr_lambda(self.cfg)
        self.scheduler.base_lrs = list(self._group_lrs)
        for group, lr in zip(self.optimizer.param_groups, self._group_lrs):
            group["initial_lr"], group["weight_decay"] = lr, self.cfg.ppo.weight_decay
            group["lr"] = lr * factor(self.scheduler.last_epoch)

    def _ptx_data(self) -> PtxData | None:
        d = self.cfg.data
        if self.cfg.ppo.ptx_coef <= 0 or not d.sft:
            return None
        return PtxData(d.sft, d.prompt_column, d.sft_completion_column, self.cfg.ppo.seed + self.acc.process_index,
                       tokenizer=self.models.tokenizer, chat_template=d.chat_template, max_prompt_tokens=d.max_prompt_tokens,
                       max_completion_tokens=d.sft_max_tokens, device=self.acc.device)

    def _unwrapped(self) -> Any:
        return self.acc.unwrap_model(self.policy)

    # -- one step -----------------------------------------------------------------------------
    def _rollout(self, rows: list[dict[str, Any]]) -> Rollout:
        shared = self.models.value_head is not None
        return generate_rollout(
            self._unwrapped(), self.models.tokenizer, [r[self.cfg.data.prompt_column] for r in rows], self.cfg,
            generator=_seeded(self.cfg.ppo.seed, self.step, 2 * self.acc.process_index, self.acc.device),
            device=self.acc.device, value_head=self.acc.unwrap_model(self.value_module) if shared else None,
        )

    def _score(self, roll: Rollout, rows: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """(scores with the missing-EOS penalty, rows that got a score, the composite's result)."""
        result = self.reward.score_batch(roll.prompts, roll.completions, **self.stream.columns(rows, self.cfg.data.prompt_column))
        scored = torch.tensor(result.scored, dtype=torch.bool, device=self.acc.device)
        scores = torch.tensor(result.total, dtype=torch.float32, device=self.acc.device).masked_fill(~scored, 0.0)
        if self.cfg.generation.missing_eos_penalty is not None:
            scores = scores - self.cfg.generation.missing_eos_penalty * (~roll.has_eos).float()
        return scores, scored, result

    @torch.no_grad()
    def _old_values_and_ref(self, roll: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        ids, attn, r = roll.input_ids, roll.attention_mask, roll.response_ids.shape[1]
        temp = self.cfg.generation.temperature
        with self.models.reference_model(self._unwrapped()) as ref:
            ref_logp, _, _ = token_logprobs(ref, ids, attn, r, temp)
        if roll.values is not None:
            values = roll.values  # the value head's, on the states the sampling computed
        elif self.models.value_head is not None:
            _, _, values = token_logprobs(self._unwrapped(), ids, attn, r, temp, self.acc.unwrap_model(self.value_module),
                                          values_only=True)  # the old log-probs are the rollout's: no LM head here
        else:
            values = self.acc.unwrap_model(self.value_module)(ids, attn, r)
        return ref_logp, values

    def train_step(self) -> dict[str, Any]:
        p = self.cfg.ppo
        times: dict[str, float] = {}
        t0 = tick = time.perf_counter()
        k = p.samples_per_prompt
        rows = [row for row in self.stream.next_batch(p.batch_size // k, self.acc.process_index, self.acc.num_processes) for _ in range(k)]
        roll = self._rollout(rows)
        times["rollout"], tick = time.perf_counter() - tick, time.perf_counter()
        scores, scored, result = self._score(roll, rows)
        times["scoring"], tick = time.perf_counter() - tick, time.perf_counter()
        ref_logp, values = self._old_values_and_ref(roll)
        learn_mask = roll.response_mask & scored[:, None]
        learn_scores = leave_one_out_scores(scores, scored, k) if p.group_baseline else scores
        adv = compute_advantages(learn_scores, roll.logprobs, ref_logp, values, learn_mask, p, kl_coef=self._kl_coef("reward"))
        times["advantages"], tick = time.perf_counter() - tick, time.perf_counter()
        batch = UpdateBatch(roll.input_ids, roll.attention_mask, learn_mask, roll.logprobs, values, adv.advantages, adv.returns, ref_logp)
        ptx = (lambda: self.ptx.next_batch(p.ptx_batch_size)) if self.ptx is not None else None
        stats = ppo_update(batch, self.learner, self.cfg, train_policy=self.step > p.critic_warmup_steps,
                           kl_loss_coef=self._kl_coef("loss"), ptx_batches=ptx,
                           generator=_seeded(p.seed, self.step, 2 * self.acc.process_index + 1, torch.device("cpu")))
        self.scheduler.step()
        times["update"] = time.perf_counter() - tick
        times["step"] = time.perf_counter() - t0
        kl_sum = float((adv.kl * learn_mask).sum(1).mean())
        record = self._record(roll, scores, scored, result, adv, stats, times, kl_sum)
        if p.adaptive_kl:
            self.kl.update(kl_sum, p.batch_size * self.acc.num_processes)
        return record

    def _kl_coef(self, where: str) -> float:
        """The KL coefficient where the config puts the penalty ("reward" or "loss"), 0 elsewhere."""
        return self.kl.value if self.cfg.ppo.kl_penalty == where else 0.0

    def _record(self, roll: Rollout, scores, scored, result, adv, stats, times, kl_sum) -> dict[str, Any]:
        totals = [v for v in result.rewards() if v is not None]
        n_tokens = int(roll.response_mask.sum())
        rec: dict[str, Any] = {
            "step": self.step,
            "reward/total": sum(totals) / len(totals) if totals else None,
            "reward/score": float(scores[scored].mean()) if bool(scored.any()) else None,
            "reward/unscored": int((~scored).sum()),
            "reward/sources": {n: {"mean": s.get("mean"), "share": s.get("share"), "weight": s.get("weight")} for n, s in result.stats.items()},
            "objective/kl": kl_sum, "objective/kl_coef": self.kl.value,
            "objective/non_score_reward": float((-self._kl_coef("reward") * adv.kl).sum(1).mean()),
            **{k: round(v, 6) if isinstance(v, float) else v for k, v in stats.items()},
            "response/length": n_tokens / roll.response_ids.shape[0],
            "response/eos_rate": float(roll.has_eos.float().mean()),
            "lr": self.scheduler.get_last_lr()[0],
            "data_position": self.stream.position,
            "tokens_per_s": n_tokens / times["step"],
            **{f"time/{k}": round(v, 4) for k, v in times.items()},
        }
        if self.cfg.output.log_samples:
            rec["samples"] = [{"prompt": pr, "completion": c} for pr, c in list(zip(roll.prompts, roll.completions))[: self.cfg.output.log_samples]]
        return rec

    # -- the loop -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        reward_state = self.reward.state_dict() if hasattr(self.reward, "state_dict") else None
        return {"data_position": self.stream.position, "ptx_position": self.ptx.stream.position if self.ptx else 0,
                "kl_coef": self.kl.value, "reward_state": reward_state,
                "watch": self.watch.state_dict(), "evals": [e.model_dump() for e in self.evals],
                "config": self.fingerprint, "config_changes": self.config_changes}

    def _save(self) -> None:
        if self.acc.is_main_process:
            ckpt.save_checkpoint(self.run_dir, self.step, policy=self._unwrapped(), tokenizer=self.models.tokenizer,
                                 value_module=self.acc.unwrap_model(self.value_module), optimizer=self.optimizer,
                                 scheduler=self.scheduler, state=self._state(), keep=self.cfg.output.keep_checkpoints)
        self.acc.wait_for_everyone()

    def _evaluate(self, out: Any) -> PolicyEval | None:
        if not self.acc.is_main_process:
            return None
        res = run_eval(self.cfg.eval, self._unwrapped(), self.models.tokenizer)
        if res is None:
            return None
        res.step = self.step
        self.evals.append(res)
        for w in self.watch.on_eval(self.step, res.metric, res.value, res.higher_is_better):
            out.print(f"[bold yellow]reward-hacking watch:[/] {w}")
            res.warnings.append(w)
        out.print(f"eval at step {self.step}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.values.items()))
        if self.cfg.output.keep_best and self._best_eval() is res:
            self._save_policy(self.run_dir / "best", merge_copy=True)
        return res

    def _best_eval(self) -> PolicyEval | None:
        """The evaluation with the best watched metric (the earliest on ties); None before any scored one."""
        scored = [e for e in self.evals if e.value is not None and math.isfinite(e.value)]
        if not scored:
            return None
        sign = 1.0 if scored[0].higher_is_better else -1.0
        return max(scored, key=lambda e: (sign * e.value, -e.step))

    def _save_policy(self, path: Path, merge_copy: bool = False) -> None:
        """Policy (LoRA merged) and tokenizer into ``path``, replaced atomically."""
        model = self._unwrapped()
        if self.models.uses_lora:  # merging in place ends training, so mid-run a copy is merged
            model = (copy.deepcopy(model) if merge_copy else model).merge_and_unload()
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        self.models.tokenizer.save_pretrained(tmp)
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)

    def train(self) -> dict[str, Any]:
        o = self.cfg.output
        wants_eval = bool(self.cfg.eval.suite) and o.eval_every > 0
        with Progress(TextColumn("ppo"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=self.console,
                      disable=not self.acc.is_main_process) as bar:
            task = bar.add_task("ppo", total=self.cfg.ppo.steps, completed=self.step)
            if wants_eval and self.step == 0:
                self._evaluate(bar.console)
            while self.step < self.cfg.ppo.steps:
                with keeping(self._kept_message()):
                    self._one_step(bar, task, wants_eval)
        return self._finish()

    def _kept_message(self) -> str:
        """What an interrupt now leaves behind, and how to continue."""
        last = ckpt.latest_checkpoint(self.run_dir)
        if last is None:
            return f"no checkpoint yet in {self.run_dir} (the first is saved at step {self.cfg.output.save_every or self.cfg.ppo.steps}); rerun to start over"
        return f"checkpoint step {int(last.name[5:])} is kept in {last}; {self.resume_hint}"

    def _one_step(self, bar: Any, task: Any, wants_eval: bool) -> None:
        """One step: rollout, update, log, evaluate, checkpoint."""
        o = self.cfg.output
        self.step += 1
        rec = self.train_step()
        if wants_eval and (self.step % o.eval_every == 0 or self.step == self.cfg.ppo.steps):
            res = self._evaluate(bar.console)
            rec["eval"] = res.model_dump() if res is not None else None
        shares = {n: s["share"] for n, s in rec["reward/sources"].items()}
        warnings = self.watch.on_step(self.step, rec["reward/total"], shares)
        rec["watch"] = warnings + ((rec.get("eval") or {}).get("warnings") or [])
        if self.acc.is_main_process:
            self.log.write(rec)
            bar.console.print(console_line(rec), highlight=False)
            for w in self.watch.new_console_warnings(warnings, shares):
                bar.console.print(f"[bold yellow]reward-hacking watch:[/] {w}")
        bar.update(task, completed=self.step)
        if (o.save_every and self.step % o.save_every == 0) or self.step == self.cfg.ppo.steps:
            self._save()

    def _finish(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"steps": self.step, "run_dir": str(self.run_dir), "device": str(self.acc.device),
                                   "processes": self.acc.num_processes}
        if not self.acc.is_main_process:
            return summary
        final = self.run_dir / "final"
        best = self._best_eval() if self.cfg.output.keep_best else None
        if best is not None and (self.run_dir / "best").is_dir():
            shutil.rmtree(final, ignore_errors=True)
            shutil.copytree(self.run_dir / "best", final)
            summary["best"] = best.model_dump(include={"step", "metric", "value"})
        else:
            self._save_policy(final)
        steps = read_steps(self.run_dir / "steps.jsonl")
        rewards = [s["reward/total"] for s in steps if s.get("reward/total") is not None]
        # A short run averages fewer steps, so "first" and "last" never overlap (3 steps: 1 and 1).
        w = max(1, min(self.cfg.watch.window, len(rewards) // 2))
        summary.update({
            "reward_window": w,
            "final_model": str(final),
            "reward_first": sum(rewards[:w]) / len(rewards[:w]) if rewards else None,
            "reward_last": sum(rewards[-w:]) / len(rewards[-w:]) if rewards else None,
            "evals": [e.model_dump(include={"step", "values", "verdict"}) for e in self.evals],
            "watch": self.watch.summary(),
            "median_step_s": sorted(s["time/step"] for s in steps)[len(steps) // 2] if steps else None,
        })
        write_json(self.run_dir / "summary.json", summary)
        self._print_report(summary)
        return summary

    def _print_report(self, summary: dict[str, Any]) -> None:
        c = self.console
        c.print(f"[bold]PPO done[/]: {summary['steps']} steps; reward (mean of first/last {summary['reward_window']} step(s)) "
                f"{_f(summary['reward_first'])} -> {_f(summary['reward_last'])}; model saved to {summary['final_model']}")
        for e in summary["evals"]:
            c.print(f"  eval step {e['step']}: {e['values']} ({e['verdict']})")
        if "best" in summary:
            b = summary["best"]
            c.print(f"keep_best: final/ is the policy of step {b['step']} ({b['metric']} {_f(b['value'])})")
        watch = summary["watch"]
        if watch["warnings"]:
            c.print(f"[bold yellow]reward-hacking watch: {watch['n_warnings']} warning(s)[/]")
            for w in watch["warnings"]:
                c.print(f"  steps {w['first_step']}-{w['last_step']} ({w['count']}x): {w['message']}")
        else:
            c.print("reward-hacking watch: no warnings")


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def train_ppo(config: PPORunConfig | str | Path, *, resume: bool = False, reward: Any = None, console: Any = None,
              accept_config_change: bool = False, resume_hint: str = "rerun with --resume") -> dict[str, Any]:
    """Run (or resume) a PPO training from a config object or TOML path; returns the summary.

    ``accept_config_change``: resume even where the config differs from the checkpoint's in a key
    the checkpoint fixes (docs/training-ppo.md); the change is recorded."""
    cfg = config if isinstance(config, PPORunConfig) else load_ppo_config(config)
    return PPOTrainer(cfg, reward=reward, resume=resume, console=console, accept_config_change=accept_config_change,
                      resume_hint=resume_hint).train()
