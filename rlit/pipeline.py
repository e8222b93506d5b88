"""The whole pipeline in one run: base model -> SFT -> preference pairs -> reward model -> PPO,
with a held-out evaluation before and after PPO and a paired comparison of the two.

Every stage writes into its own folder under ``out_dir`` and marks itself done; a re-run skips
finished stages and resumes PPO from its last checkpoint, so an interrupted pipeline continues.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Sequence

from pydantic import Field, PrivateAttr, model_validator
from scipy.stats import binomtest

from rlit.configfile import AT_LEAST_1, NON_NEGATIVE, ConfigModel, ConfigPath, ModelName, build, config_folder, naming_overrides, read_config
from rlit.atomic import check_writable, write_json
from rlit.errors import ConfigError
from rlit.evaluation import evaluate
from rlit.interrupts import keeping
from rlit.jsonl import read_rows
from rlit.lm.builtin import build_tiny_gpt2
from rlit.training.ppo.config import PPORunConfig, ppo_config_from_dict
from rlit.training.ppo.trainer import train_ppo
from rlit.training.preference_pairs import PreferencePairsConfig, build_preference_pairs, load_preference_pairs_config
from rlit.training.reward_model import POLICY_BASE, RewardModelConfig, load_reward_model_config, train_reward_model
from rlit.training.sft import SFTStageConfig, train_sft

# In a [ppo.reward] source's options: the folder of the reward model this pipeline trains.
REWARD_MODEL = "@reward_model"


class TinyModel(ConfigModel):
    """A small GPT-2 built from scratch with a BPE tokenizer trained on the project's own text."""

    n_layer: Annotated[int, AT_LEAST_1] = Field(4, description="Transformer layers.")
    n_embd: Annotated[int, AT_LEAST_1] = Field(256, description="Hidden size.")
    n_head: Annotated[int, AT_LEAST_1] = Field(4, description="Attention heads.")
    n_positions: Annotated[int, AT_LEAST_1] = Field(512, description="Longest sequence in tokens.")
    vocab_size: Annotated[int, Field(ge=300)] = Field(4096, description="BPE vocabulary size (small keeps the output layer cheap on CPU).")
    tokenizer_files: list[ConfigPath] = Field(default_factory=list, description="JSONL files whose `prompt`/`completion` texts train the tokenizer.")
    seed: Annotated[int, NON_NEGATIVE] | None = Field(None, description="Initialisation seed; unset = the top-level seed, else 0.")
    activation_function: str = Field(
        "gelu_pytorch_tanh", description="MLP activation (transformers' names): gelu_pytorch_tanh is GPT-2's gelu_new as one fused kernel.")


class Heldout(ConfigModel):
    """The held-out evaluation run before and after PPO (paired: same prompts, same settings)."""

    suite: ConfigPath = Field(description="Eval suite file (docs/evaluation.md).")
    limit: Annotated[int, AT_LEAST_1] | None = Field(None, description="Evaluate only the first N prompts of each eval.")
    seed: Annotated[int, NON_NEGATIVE] | None = Field(None, description="Sampling seed of every eval (overrides the suite's); unset = the top-level seed, else the suite's own.")


class RewardModelGate(ConfigModel):
    """PPO trains against the pipeline's reward model only if it beats chance on its held-out pairs."""

    confidence: Annotated[float, Field(gt=0.5, lt=1)] = Field(
        0.95, description="Required one-sided confidence that the held-out pairwise accuracy is above 0.5 (exact binomial test); "
                          "below it every [ppo.reward] source whose options name @reward_model leaves the PPO reward.")


class PipelineConfig(ConfigModel):
    """A `rlit pipeline` config file (docs/pipeline.md)."""

    out_dir: ConfigPath = Field("runs/pipeline", description="Run folder; each stage writes a subfolder.")
    base_model: ModelName | None = Field(None, description="Start from this model (folder, hub id, builtin:...); unset = build [tiny].")
    tiny: TinyModel | None = Field(None, description="Build a small GPT-2 from scratch (when base_model is unset).")
    sft: dict[str, Any] = Field(default_factory=dict, description="SFT stage keys (docs/training.md) except model and output_dir; empty = no SFT (the base is already tuned).")
    preference_pairs: dict[str, Any] | None = Field(None, description="Preference-pair keys except policy and output_file; unset = no reward model.")
    reward_model: dict[str, Any] | None = Field(None, description="Reward-model keys except train_file and output_dir.")
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO tables (docs/training-ppo.md); model.policy and output.dir are filled in.")
    heldout: Heldout | None = Field(None, description="Held-out evaluation before and after PPO.")
    reward_model_gate: RewardModelGate | None = Field(None, description="Drop the reward model from the PPO reward unless it beats chance on its held-out pairs; unset = always use it.")
    seed: Annotated[int, NON_NEGATIVE] | None = Field(None, description="One number for the whole draw: the seed of every stage that sets none itself (docs/pipeline.md).")
    # The config file's folder: the stage tables' relative paths resolve against it when built.
    _base: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _stages_fit(self) -> "PipelineConfig":
        if self.base_model is None and self.tiny is None:
            raise ValueError("set base_model or a [tiny] table")
        if (self.preference_pairs is None) != (self.reward_model is None):
            raise ValueError("[preference_pairs] and [reward_model] go together (both or neither)")
        if self.reward_model_gate is not None and self.reward_model is None:
            raise ValueError("[reward_model_gate] needs the [preference_pairs] and [reward_model] stages")
        return self


def load_pipeline_config(path: str | Path, sets: Sequence[str] = ()) -> PipelineConfig:
    """Read a pipeline TOML; relative paths (its stage tables' too) resolve against its folder.

    Every stage table is validated now, with placeholders for what earlier stages make, so a bad
    key in [ppo] fails in a second rather than after SFT; errors name the file and key, or the
    ``--set key=value`` in ``sets`` (applied to the file's dict first) that gave the bad value.
    """
    with naming_overrides(sets):
        return _load_pipeline_config(Path(path), sets)


def _load_pipeline_config(path: Path, sets: Sequence[str]) -> PipelineConfig:
    cfg = build(PipelineConfig, read_config(path, sets), str(path), config_folder(path))
    cfg._base = config_folder(path)
    where = f"{path}: "
    if cfg.sft:
        _sft_config(cfg, "<the base model>", "<run>/sft/model", where)
    if cfg.preference_pairs is not None:
        _pairs_config(cfg, "<the SFT model>", "<run>/pairs/pairs.jsonl", where)
        _reward_model_config(cfg, "<run>/pairs/pairs.jsonl", "<the SFT model>", "<run>/reward-model/model", where)
    _ppo_run_config(cfg, "<the SFT model>", "<the run folder>", _planned_reward_model(cfg), where)
    if cfg.reward_model_gate is not None:  # the reward a failed gate leaves must be a valid one too
        _ppo_run_config(cfg, "<the SFT model>", "<the run folder>", _planned_reward_model(cfg), f"{where}[reward_model_gate] failing: ", drop_reward_model=True)
    return cfg


def _planned_reward_model(cfg: PipelineConfig) -> str | None:
    """What ``@reward_model`` stands for before the run: a placeholder, or None without that stage."""
    return "<run>/reward-model/model" if cfg.reward_model is not None else None


def _base(cfg: PipelineConfig) -> Path | None:
    return cfg._base


def _seeded(cfg: PipelineConfig, table: dict[str, Any]) -> dict[str, Any]:
    """``table`` with the top-level seed filled in where it sets none: its own seed still wins."""
    if cfg.seed is None or "seed" in table:
        return table
    return {**table, "seed": cfg.seed}


def stage_seeds(cfg: PipelineConfig) -> dict[str, int | None]:
    """The seed each stage runs with (None: the held-out suite keeps its own seeds); recorded in summary.json."""
    seeds: dict[str, int | None] = {}
    if cfg.base_model is None and cfg.tiny is not None:
        seeds["tiny"] = _tiny_seed(cfg)
    if cfg.sft:
        seeds["sft"] = _sft_config(cfg, "<the base model>", "<run>/sft/model").seed
    if cfg.preference_pairs is not None:
        seeds["preference_pairs"] = _pairs_config(cfg, "<the SFT model>", "<run>/pairs/pairs.jsonl").seed
        seeds["reward_model"] = _reward_model_config(cfg, "<run>/pairs/pairs.jsonl", "<the SFT model>", "<run>/reward-model/model").seed
    seeds["ppo"] = _ppo_run_config(cfg, "<the SFT model>", "<the run folder>", _planned_reward_model(cfg)).ppo.seed
    if cfg.heldout is not None:
        seeds["heldout"] = _heldout_seed(cfg)
    return seeds


def _tiny_seed(cfg: PipelineConfig) -> int:
    t = cfg.tiny
    return t.seed if t is not None and t.seed is not None else (cfg.seed if cfg.seed is not None else 0)


def _heldout_seed(cfg: PipelineConfig) -> int | None:
    h = cfg.heldout
    return h.seed if h is not None and h.seed is not None else cfg.seed


def _sft_config(cfg: PipelineConfig, model: str, out: str, where: str = "pipeline: ") -> SFTStageConfig:
    return build(SFTStageConfig, {**_seeded(cfg, cfg.sft), "model": model, "output_dir": out}, f"{where}[sft]", _base(cfg))


def _pairs_config(cfg: PipelineConfig, policy: str, out: str, where: str = "pipeline: ") -> PreferencePairsConfig:
    return load_preference_pairs_config(_seeded(cfg, cfg.preference_pairs or {}) | {"policy": policy, "output_file": out},
                                        _base(cfg), where=f"{where}[preference_pairs]")


def _reward_model_config(cfg: PipelineConfig, pairs: str, policy: str, out: str, where: str = "pipeline: ") -> RewardModelConfig:
    table = _seeded(cfg, cfg.reward_model or {}) | {"train_file": pairs, "output_dir": out}
    if table.get("base_model") == POLICY_BASE:  # InstructGPT's choice: the reward model starts from the SFT model
        table["base_model"] = policy
    return load_reward_model_config(table, _base(cfg), where=f"{where}[reward_model]")


def _ppo_run_config(cfg: PipelineConfig, policy: str, run_dir: str, reward_model: str | None, where: str = "pipeline: ",
                    drop_reward_model: bool = False) -> PPORunConfig:
    """The PPO stage's run config: the [ppo] table with the policy, run folder and trained reward model filled in
    (or, with ``drop_reward_model``, the sources that use it left out)."""
    data = json.loads(json.dumps(cfg.ppo))  # a deep copy we may fill in
    if isinstance(data.get("model", {}), dict):
        data.setdefault("model", {})["policy"] = policy
    if isinstance(data.get("output", {}), dict):
        data.setdefault("output", {})["dir"] = run_dir
    if isinstance(data.get("ppo", {}), dict):
        data["ppo"] = _seeded(cfg, data.get("ppo", {}))
    if drop_reward_model:
        _drop_reward_model(data.get("reward"), where)
    _fill_reward_model(data.get("reward"), reward_model, where)
    return ppo_config_from_dict(data, f"{where}[ppo]", _base(cfg))


def _sources(reward: Any) -> list[Any]:
    """The ``[ppo.reward]`` table's source list as written (empty when malformed: validation reports it)."""
    sources = reward.get("sources") if isinstance(reward, dict) else None
    return sources if isinstance(sources, list) else []


def _options(source: Any) -> dict[str, Any]:
    options = source.get("options") if isinstance(source, dict) else None
    return options if isinstance(options, dict) else {}


def _drop_reward_model(reward: Any, where: str) -> None:
    """Remove every source whose options name ``@reward_model`` (the gate failed)."""
    sources = _sources(reward)
    if not sources:
        return
    kept = [s for s in sources if REWARD_MODEL not in _options(s).values()]
    if not kept:
        raise ConfigError(f"{where}[ppo.reward] sources: every source uses {REWARD_MODEL!r}, so a reward model that fails "
                          "[reward_model_gate] would leave PPO no reward; add a source that does not depend on it")
    reward["sources"] = kept


def reward_model_check(accuracy: float, n_eval: int, confidence: float) -> dict[str, Any]:
    """The gate's verdict on a reward model: exact one-sided binomial test of its held-out pairwise
    accuracy against chance (0.5). ``used`` is True when the p-value is at most ``1 - confidence``."""
    wins = round(accuracy * n_eval) if n_eval else 0  # no held-out pairs: accuracy may be NaN
    p_value = float(binomtest(wins, n_eval, 0.5, alternative="greater").pvalue) if n_eval else 1.0
    return {"accuracy": accuracy, "n_eval": n_eval, "wins": wins, "p_value": p_value, "confidence": confidence,
            "used": p_value <= 1 - confidence}


def _fill_reward_model(reward: Any, path: str | None, where: str) -> None:
    """Replace every source option that is ``@reward_model`` with the folder the reward-model stage writes."""
    for i, source in enumerate(_sources(reward)):
        options = _options(source)
        for key, value in options.items():
            if value != REWARD_MODEL:
                continue
            if path is None:
                raise ConfigError(f"{where}[ppo.reward] sources[{i}].options.{key}: {REWARD_MODEL!r} is the reward model "
                                  "this pipeline trains, but it has no [preference_pairs] and [reward_model] stages")
            options[key] = path


class Pipeline:
    """Runs the stages in order; ``log`` receives one line per event."""

    def __init__(self, cfg: PipelineConfig, log: Callable[[str], None] = print, accept_config_change: bool = False):
        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out_dir)
        self.accept_config_change = accept_config_change
        self.times: dict[str, float] = {}

    def stage(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        marker = self.out / name / "stage.json"
        if marker.exists():
            self.log(f"[{name}] done in an earlier run, skipped ({marker})")
            try:
                return json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{marker}: unreadable stage marker ({exc}); delete {marker.parent} to redo the stage") from None
        self.log(f"[{name}] starting")
        start = time.perf_counter()
        with keeping(f"stages finished so far are kept in {self.out}; rerun the same command to continue from stage {name!r}"):
            result = fn()
        self.times[name] = time.perf_counter() - start
        # Written last and atomically: a stage without its marker is redone, never half-trusted.
        write_json(marker, {**result, "seconds": self.times[name]})
        self.log(f"[{name}] finished in {self.times[name]:.0f}s")
        return result

    def run(self) -> dict[str, Any]:
        check_writable(self.out, "out_dir", folder=True)  # before any model loads
        total = time.perf_counter()
        base = self.stage("base", self._base)["model"]
        sft_dir = self.stage("sft", lambda: self._sft(base))["model"] if self.cfg.sft else base
        rm_dir, gate = None, None
        if self.cfg.preference_pairs is not None:
            pairs = self.stage("pairs", lambda: self._pairs(sft_dir))["file"]
            rm = self.stage("reward-model", lambda: self._reward_model(pairs, sft_dir))
            rm_dir, gate = rm["model"], self._gate(rm)
        before = self.stage("eval-before", lambda: self._evaluate(sft_dir, "eval-before", None)) if self.cfg.heldout else None
        ppo_dir = self.stage("ppo", lambda: self._ppo(sft_dir, rm_dir, drop_reward_model=gate is not None and not gate["used"]))["model"]
        after = self.stage("eval-after", lambda: self._evaluate(ppo_dir, "eval-after", before)) if self.cfg.heldout else None
        summary = {"before": before, "after": after, "stage_seconds": self.times, "seconds": time.perf_counter() - total, "model": ppo_dir,
                   "seed": self.cfg.seed, "stage_seeds": stage_seeds(self.cfg), "reward_model_gate": gate}
        write_json(self.out / "summary.json", summary)
        return summary

    def _gate(self, rm: dict[str, Any]) -> dict[str, Any] | None:
        """[reward_model_gate]'s verdict on the trained reward model (None without the table); logged."""
        if self.cfg.reward_model_gate is None:
            return None
        check = reward_model_check(float(rm.get("accuracy") or 0.0), int(rm.get("n_eval") or 0), self.cfg.reward_model_gate.confidence)
        said = (f"held-out pairwise accuracy {check['accuracy']:.3f} on {check['n_eval']} pairs (one-sided p = {check['p_value']:.3f} "
                f"against chance, needed <= {1 - check['confidence']:.3f})")
        if check["used"]:
            self.log(f"[reward_model_gate] the reward model is used in the PPO reward: {said}")
        else:
            self.log(f"[reward_model_gate] the reward model is NOT used in the PPO reward: {said}; "
                     f"its {REWARD_MODEL} sources are left out")
        return check

    # -- stages --------------------------------------------------------------------------------
    def _base(self) -> dict[str, Any]:
        if self.cfg.base_model is not None:
            return {"model": self.cfg.base_model}
        t = self.cfg.tiny
        texts = [row[k] for f in t.tokenizer_files for row in read_rows(f) for k in ("prompt", "completion") if isinstance(row.get(k), str)]
        if not texts:
            raise ConfigError("[tiny] tokenizer_files: no prompt/completion texts to train the tokenizer on")
        folder = build_tiny_gpt2(self.out / "base" / "model", seed=_tiny_seed(self.cfg), n_layer=t.n_layer, n_embd=t.n_embd, n_head=t.n_head,
                                 n_positions=t.n_positions, chat_template=True, tokenizer_texts=texts, vocab_size=t.vocab_size,
                                 activation_function=t.activation_function)
        return {"model": str(folder), "tiny": {**t.model_dump(), "seed": _tiny_seed(self.cfg)}}

    def _sft(self, base: str) -> dict[str, Any]:
        cfg = _sft_config(self.cfg, base, str(self.out / "sft" / "model"))
        return {"model": cfg.output_dir, **train_sft(cfg)}

    def _pairs(self, policy: str) -> dict[str, Any]:
        out = self.out / "pairs" / "pairs.jsonl"
        result = build_preference_pairs(_pairs_config(self.cfg, policy, str(out)), log=self.log)
        return {"file": str(out), "pairs": result.pairs_written, "ties": result.ties}

    def _reward_model(self, pairs: str, policy: str) -> dict[str, Any]:
        out = self.out / "reward-model" / "model"
        result = train_reward_model(_reward_model_config(self.cfg, pairs, policy, str(out)), log=self.log)
        return {"model": str(out), "accuracy": result.accuracy, "n_train": result.n_train, "n_eval": result.n_eval}

    def _evaluate(self, model: str, name: str, before: dict[str, Any] | None) -> dict[str, Any]:
        """The held-out evaluation's summary (scores, verdict, comparison with eval-before) as the
        stage marker stores it; ``SuiteSummary.model_validate`` reads it back."""
        baseline = str(self.out / "eval-before" / "results.json") if before else None
        res = evaluate(self.cfg.heldout.suite, model=model, baseline=baseline, out_dir=self.out / name, limit=self.cfg.heldout.limit,
                       seed=_heldout_seed(self.cfg))
        return res.summary().model_dump()

    def _ppo(self, policy: str, reward_model: str | None, drop_reward_model: bool = False) -> dict[str, Any]:
        cfg = _ppo_run_config(self.cfg, policy, str(self.out / "ppo"), reward_model, drop_reward_model=drop_reward_model)
        resume = (self.out / "ppo" / "checkpoints").exists()
        summary = train_ppo(cfg, resume=resume, accept_config_change=self.accept_config_change,
                            resume_hint="rerun the same pipeline command to resume")
        return {"model": str(self.out / "ppo" / "final"), "summary": summary}
