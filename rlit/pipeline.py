"""The whole pipeline in one run: base model -> SFT -> preference pairs -> reward model -> PPO,
with a held-out evaluation before and after PPO and a paired comparison of the two.

Every stage writes into its own folder under ``out_dir`` and marks itself done; a re-run skips
finished stages and resumes PPO from its last checkpoint, so an interrupted pipeline continues.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from rlit.configfile import build, read_toml
from rlit.errors import ConfigError

# Keys (table, key) whose relative values are paths, resolved against the pipeline file's folder.
PATH_KEYS = {
    ("tiny", "tokenizer_files"), ("sft", "train_file"), ("sft", "eval_file"), ("preference_pairs", "prompts"),
    ("heldout", "suite"), ("ppo.data", "train"), ("ppo.data", "validation"), ("ppo.data", "sft"), ("ppo.eval", "suite"), ("ppo", "reward_config"),
}


@dataclass
class TinyModel:
    """A small GPT-2 built from scratch with a BPE tokenizer trained on the project's own text."""

    n_layer: int = field(default=4, metadata={"help": "Transformer layers."})
    n_embd: int = field(default=256, metadata={"help": "Hidden size."})
    n_head: int = field(default=4, metadata={"help": "Attention heads."})
    n_positions: int = field(default=512, metadata={"help": "Longest sequence in tokens."})
    vocab_size: int = field(default=4096, metadata={"help": "BPE vocabulary size (small keeps the output layer cheap on CPU)."})
    tokenizer_files: list[str] = field(default_factory=list, metadata={"help": "JSONL files whose `prompt`/`completion` texts train the tokenizer."})
    seed: int = field(default=0, metadata={"help": "Initialisation seed."})
    activation_function: str = field(
        default="gelu_pytorch_tanh",
        metadata={"help": "MLP activation (transformers' names): gelu_pytorch_tanh is GPT-2's gelu_new as one fused kernel."},
    )


@dataclass
class Heldout:
    """The held-out evaluation run before and after PPO (paired: same prompts, same settings)."""

    suite: str = field(metadata={"help": "Eval suite file (docs/evaluation.md)."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N prompts of each eval."})


@dataclass
class PipelineConfig:
    out_dir: str = field(default="runs/pipeline", metadata={"help": "Run folder; each stage writes a subfolder."})
    base_model: str | None = field(default=None, metadata={"help": "Start from this model (folder, hub id, builtin:...); unset = build [tiny]."})
    tiny: TinyModel | None = field(default=None, metadata={"help": "Build a small GPT-2 from scratch (when base_model is unset)."})
    sft: dict[str, Any] = field(default_factory=dict, metadata={"help": "SFT stage keys (docs/training.md) except model and output_dir; empty = no SFT (the base is already tuned)."})
    preference_pairs: dict[str, Any] | None = field(default=None, metadata={"help": "Preference-pair keys except policy and output_file; unset = no reward model."})
    reward_model: dict[str, Any] | None = field(default=None, metadata={"help": "Reward-model keys except train_file and output_dir."})
    ppo: dict[str, Any] = field(default_factory=dict, metadata={"help": "PPO tables (docs/training-ppo.md); model.policy and output.dir are filled in."})
    heldout: Heldout | None = field(default=None, metadata={"help": "Held-out evaluation before and after PPO."})


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    """Read a pipeline TOML; relative paths resolve against its folder; errors name file and key."""
    path = Path(path)
    data = read_toml(path)
    _resolve(data, path.resolve().parent)
    cfg = build(PipelineConfig, data, str(path))
    if cfg.base_model is None and cfg.tiny is None:
        raise ConfigError(f"{path}: set base_model or a [tiny] table")
    if (cfg.preference_pairs is None) != (cfg.reward_model is None):
        raise ConfigError(f"{path}: [preference_pairs] and [reward_model] go together (both or neither)")
    if cfg.ppo is not None:  # checked now, not after SFT; the stage fills in what it makes
        _ppo_run_config(cfg.ppo, "<the SFT model>", "<the run folder>", None, f"{path}: [ppo]")
    return cfg


def _ppo_run_config(ppo: dict[str, Any], policy: str, run_dir: str, reward_model: str | None, where: str) -> Any:
    """The PPO stage's run config: the [ppo] table with the policy, run folder and trained reward model filled in."""
    from rlit.training.ppo.config import ppo_config_from_dict

    data = json.loads(json.dumps(ppo))  # a deep copy we may fill in
    if isinstance(data.get("model", {}), dict):
        data.setdefault("model", {})["policy"] = policy
    if isinstance(data.get("output", {}), dict):
        data.setdefault("output", {})["dir"] = run_dir
    for source in (data.get("reward") or {}).get("sources", []):
        if isinstance(source, dict) and source.get("name") == "reward-model" and reward_model and "model" not in source.setdefault("options", {}):
            source["options"]["model"] = reward_model
    return ppo_config_from_dict(data, where)


def _resolve(data: dict[str, Any], base: Path) -> None:
    if isinstance(data.get("out_dir"), str):
        data["out_dir"] = str((base / data["out_dir"]).resolve())
    model = data.get("base_model")
    if isinstance(model, str) and (model.startswith((".", "/")) or (base / model).exists()):
        data["base_model"] = str((base / model).resolve())  # else a hub id or builtin: name
    for dotted, key in PATH_KEYS:
        table: Any = data
        for part in dotted.split("."):
            table = table.get(part) if isinstance(table, dict) else None
        if not isinstance(table, dict) or key not in table:
            continue
        value = table[key]
        fix = lambda v: v if (not isinstance(v, str) or ":" in v[:10] or Path(v).is_absolute()) else str((base / v).resolve())  # noqa: E731
        table[key] = [fix(v) for v in value] if isinstance(value, list) else fix(value)


class Pipeline:
    """Runs the stages in order; ``log`` receives one line per event."""

    def __init__(self, cfg: PipelineConfig, log: Callable[[str], None] = print):
        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out_dir)
        self.times: dict[str, float] = {}

    def stage(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        marker = self.out / name / "stage.json"
        if marker.exists():
            self.log(f"[{name}] done in an earlier run, skipped ({marker})")
            return json.loads(marker.read_text())
        self.log(f"[{name}] starting")
        start = time.perf_counter()
        result = fn()
        self.times[name] = time.perf_counter() - start
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({**result, "seconds": self.times[name]}, default=str, indent=1))
        self.log(f"[{name}] finished in {self.times[name]:.0f}s")
        return result

    def run(self) -> dict[str, Any]:
        total = time.perf_counter()
        base = self.stage("base", self._base)["model"]
        sft_dir = self.stage("sft", lambda: self._sft(base))["model"] if self.cfg.sft else base
        rm_dir = None
        if self.cfg.preference_pairs is not None:
            pairs = self.stage("pairs", lambda: self._pairs(sft_dir))["file"]
            rm_dir = self.stage("reward-model", lambda: self._reward_model(pairs, sft_dir))["model"]
        before = self.stage("eval-before", lambda: self._evaluate(sft_dir, "eval-before", None)) if self.cfg.heldout else None
        ppo_dir = self.stage("ppo", lambda: self._ppo(sft_dir, rm_dir))["model"]
        after = self.stage("eval-after", lambda: self._evaluate(ppo_dir, "eval-after", before)) if self.cfg.heldout else None
        summary = {"before": before, "after": after, "stage_seconds": self.times, "seconds": time.perf_counter() - total, "model": ppo_dir}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        return summary

    # -- stages --------------------------------------------------------------------------------
    def _base(self) -> dict[str, Any]:
        if self.cfg.base_model is not None:
            return {"model": self.cfg.base_model}
        from rlit.models import build_tiny_gpt2

        t = self.cfg.tiny
        texts = [row[k] for f in t.tokenizer_files for row in _jsonl(f) for k in ("prompt", "completion") if isinstance(row.get(k), str)]
        if not texts:
            raise ConfigError("[tiny] tokenizer_files: no prompt/completion texts to train the tokenizer on")
        folder = build_tiny_gpt2(self.out / "base" / "model", seed=t.seed, n_layer=t.n_layer, n_embd=t.n_embd, n_head=t.n_head,
                                 n_positions=t.n_positions, chat_template=True, tokenizer_texts=texts, vocab_size=t.vocab_size,
                                 activation_function=t.activation_function)
        return {"model": str(folder), "tiny": asdict(t)}

    def _sft(self, base: str) -> dict[str, Any]:
        from rlit.training.sft import SFTStageConfig, train_sft

        cfg = build(SFTStageConfig, {**self.cfg.sft, "model": base, "output_dir": str(self.out / "sft" / "model")}, "pipeline: [sft]")
        return {"model": cfg.output_dir, **train_sft(cfg)}

    def _pairs(self, policy: str) -> dict[str, Any]:
        from rlit.training.preference_pairs import build_preference_pairs, load_preference_pairs_config

        out = self.out / "pairs" / "pairs.jsonl"
        cfg = load_preference_pairs_config({**self.cfg.preference_pairs, "policy": policy, "output_file": str(out)})
        result = build_preference_pairs(cfg, log=self.log)
        return {"file": str(out), "pairs": result.pairs_written, "ties": result.ties}

    def _reward_model(self, pairs: str, policy: str) -> dict[str, Any]:
        from rlit.training.reward_model import POLICY_BASE, load_reward_model_config, train_reward_model

        out = self.out / "reward-model" / "model"
        table = {**self.cfg.reward_model, "train_file": pairs, "output_dir": str(out)}
        if table.get("base_model") == POLICY_BASE:  # InstructGPT's choice: the reward model starts from the SFT model
            table["base_model"] = policy
        cfg = load_reward_model_config(table)
        result = train_reward_model(cfg, log=self.log)
        return {"model": str(out), "accuracy": result.accuracy, "n_train": result.n_train, "n_eval": result.n_eval}

    def _evaluate(self, model: str, name: str, before: dict[str, Any] | None) -> dict[str, Any]:
        from rlit.evaluation import evaluate

        baseline = str(self.out / "eval-before" / "results.json") if before else None
        res = evaluate(self.cfg.heldout.suite, model=model, baseline=baseline, out_dir=self.out / name, limit=self.cfg.heldout.limit)
        return {"values": res.values, "verdict": res.verdict,
                "comparison": {n: e.get("comparison") for n, e in res.evals.items()}}

    def _ppo(self, policy: str, reward_model: str | None) -> dict[str, Any]:
        from rlit.training.ppo.trainer import train_ppo

        cfg = _ppo_run_config(self.cfg.ppo, policy, str(self.out / "ppo"), reward_model, "pipeline: [ppo]")
        resume = (self.out / "ppo" / "checkpoints").exists()
        summary = train_ppo(cfg, resume=resume)
        return {"model": str(self.out / "ppo" / "final"), "summary": summary}


def _jsonl(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
