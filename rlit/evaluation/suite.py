"""Eval suites: the TOML schema (pydantic), loading with includes, and errors that name file + key.

A suite file lists evals. Each eval names a prompt set, how to generate, a metric (a reward
source, a composite reward, or a loglikelihood lm-eval task), how to aggregate and a gate::

    name = "instruction-following"
    [generation]                       # defaults for every eval in this file
    max_new_tokens = 256

    [[evals]]
    name = "ifeval-prompt-strict"
    prompts = "data/instructions-test.jsonl"     # relative to this file, or "scheme:spec"
    metric = { source = "ifeval", options = { mode = "strict" } }
    aggregate = { method = "prompt_level" }
    gate = { min = 0.2, max_regression = 0.0 }
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rlit.configfile import ConfigModel, ConfigPath, build, read_toml
from rlit.errors import ConfigError
from rlit.lm.generation import GenerationSettings

AggregateMethod = Literal["mean", "rate_above", "rate_below", "max", "min", "prompt_level", "instruction_level", "group_gap"]


class ModelArgs(ConfigModel):
    """Keywords passed to ``from_pretrained`` (``--model-args`` / the suite's ``model_args``).

    An allowlist, so a typo or a keyword that would run code (``trust_remote_code``) is an error
    naming it, not something transformers silently ignores or obeys."""

    revision: str | None = Field(None, description="Hub branch, tag or commit.")
    device_map: str | dict[str, Any] | None = Field(None, description="accelerate placement, e.g. 'auto' (then --device is not used).")
    attn_implementation: str | None = Field(None, description="eager, sdpa, flash_attention_2...")
    subfolder: str | None = Field(None, description="Folder of the weights inside the repository.")
    variant: str | None = Field(None, description="Weights variant, e.g. 'fp16'.")
    use_safetensors: bool | None = Field(None, description="Require (true) or refuse (false) safetensors weights.")
    low_cpu_mem_usage: bool | None = Field(None, description="Load without a full extra copy in memory.")
    local_files_only: bool | None = Field(None, description="Never contact the hub.")

    def kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def parse_model_args(text: str | dict[str, Any] | None, what: str = "--model-args") -> dict[str, Any]:
    """``key=value,key=value`` (values read as JSON scalars where they parse: true, 3, null) or a
    dict, validated by ModelArgs; the first bad key is a ConfigError naming it."""
    if text is None or text == "":
        return {}
    raw: dict[str, Any] = {}
    if isinstance(text, dict):
        raw = dict(text)
    else:
        for part in (p.strip() for p in text.split(",")):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{what}: {part!r} is not key=value")
            raw[key.strip()] = _scalar(value.strip())
    return build(ModelArgs, raw, what).kwargs()


def _scalar(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (bool, int, float, type(None))) else value


class MetricSpec(ConfigModel):
    """What scores a completion: one reward source, or a composite reward (file or inline)."""

    source: str | None = Field(None, description="A registered reward source name.")
    options: dict[str, Any] = Field(default_factory=dict, description="Constructor keywords of the source.")
    reward: str | None = Field(None, description="Path to a reward config TOML (composite), relative to the suite file.")
    sources: list[dict[str, Any]] | None = Field(None, description="An inline composite: [[sources]] tables as in a reward config.")
    higher_is_better: bool | None = Field(None, description="Override the source's direction (for composites default true).")

    @model_validator(mode="after")
    def _one_kind(self) -> "MetricSpec":
        given = [k for k in ("source", "reward", "sources") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("set exactly one of 'source', 'reward' or 'sources'")
        return self


class LmEvalSpec(ConfigModel):
    """A loglikelihood lm-eval task, run on the model object by the model evaluator a plugin registers as `lm-eval`."""

    task: str = Field(description="A task the `lm-eval` model evaluator provides (rlit-lm-eval: 'crows-pairs', 'reference-loglikelihood') or a path to an lm-eval task YAML.")
    metric: str = Field("acc", description="The lm-eval metric reported per sample (e.g. acc, pct_stereotype).")
    data: str | None = Field(None, description="Local data for a task the evaluator provides (else the evaluator's default data).")
    target: float | None = Field(None, description="Report |value - target| instead of the value (e.g. 0.5 for a bias rate).")
    trust_code: bool = Field(False, description="Allow a task YAML with `!function` to run the Python it names (like trust_remote_code).")


class AggregateSpec(ConfigModel):
    method: AggregateMethod = Field("mean", description="How per-sample scores become one number.")
    threshold: float | None = Field(None, description="Threshold for rate_above / rate_below.")
    by: str | None = Field(None, description="A prompt column for a per-category breakdown (e.g. category).")
    group: str = Field("group", description="Column shared by counterfactual rows (group_gap).")
    gap: Literal["max", "mean"] = Field("max", description="group_gap: largest or mean within-group spread.")

    @model_validator(mode="after")
    def _needs_threshold(self) -> "AggregateSpec":
        if self.method in ("rate_above", "rate_below") and self.threshold is None:
            raise ValueError(f"method {self.method!r} needs 'threshold'")
        return self


class GateSpec(ConfigModel):
    min: float | None = Field(None, description="Fail when the score is below this.")
    max: float | None = Field(None, description="Fail when the score is above this.")
    max_regression: float | None = Field(
        None, ge=0, description="Fail when the paired difference to the baseline is worse than this, at level alpha.")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="One-sided level of the regression test.")


class EvalSpec(ConfigModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique name (used in reports).")
    description: str = ""
    prompts: str | None = Field(None, description="JSONL path relative to the suite file, or 'scheme:spec'.")
    limit: int | None = Field(None, ge=1, description="Use only the first N prompts.")
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    metric: MetricSpec | None = None
    lm_eval: LmEvalSpec | None = None
    aggregate: AggregateSpec = Field(default_factory=AggregateSpec)
    gate: GateSpec = Field(default_factory=GateSpec)
    base_dir: str = Field("", description="(set by the loader) folder of the file that defined this eval.")

    @model_validator(mode="after")
    def _one_kind(self) -> "EvalSpec":
        if (self.metric is None) == (self.lm_eval is None):
            raise ValueError("set exactly one of 'metric' (with 'prompts') or 'lm_eval'")
        if self.metric is not None and not self.prompts:
            raise ValueError("an eval with a 'metric' needs 'prompts'")
        return self


class Suite(ConfigModel):
    name: str
    description: str = ""
    include: list[ConfigPath] = Field(default_factory=list, description="Other suite files whose evals this suite runs (relative to this file).")
    generation: dict[str, Any] = Field(default_factory=dict, description="Generation defaults for this file's evals.")
    gates: dict[str, GateSpec] = Field(default_factory=dict, description="Gate overrides by eval name (e.g. in release.toml).")
    evals: list[EvalSpec] = Field(default_factory=list)
    bootstrap: int = Field(1000, ge=100, description="Bootstrap resamples for intervals.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Two-sided confidence of reported intervals.")
    seed: int = Field(0, description="Seed of the bootstrap.")
    trust_code: bool = Field(False, description="Allow every lm-eval task YAML of this file to run the Python its `!function` tags name.")
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = Field(
        "float32", description="Weights dtype of a model loaded by name (auto: bf16 on a GPU that supports it); --dtype overrides.")
    model_args: ModelArgs = Field(default_factory=ModelArgs, description="from_pretrained keywords; --model-args overrides key by key.")
    path: str = ""
    sha256: str = ""

    def eval(self, name: str) -> EvalSpec:
        for e in self.evals:
            if e.name == name:
                return e
        raise ConfigError(f"{self.path}: no eval named {name!r} in suite {self.name!r}")


def _prepare_evals(raw: dict, path: Path) -> dict:
    defaults = raw.get("generation", {}) if isinstance(raw.get("generation"), dict) else {}
    evals = raw.get("evals", [])
    if not isinstance(evals, list):
        raise ConfigError(f"{path}: evals: must be an array of tables ([[evals]])")
    for e in evals:
        if isinstance(e, dict):
            gen = e.get("generation", {})
            e["generation"] = {**defaults, **gen} if isinstance(gen, dict) else gen
            e["base_dir"] = str(path.parent)
    return raw


def _trusting(e: EvalSpec) -> EvalSpec:
    if e.lm_eval is None:
        return e
    return e.model_copy(update={"lm_eval": e.lm_eval.model_copy(update={"trust_code": True})})


def load_suite(path: str | Path, _seen: tuple[Path, ...] = ()) -> Suite:
    """Read and validate a suite file (and its includes). Errors name the file and the key."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: include cycle through {', '.join(str(p) for p in _seen)}")
    raw = _prepare_evals(read_toml(path, "suite file"), path)
    suite = build(Suite, raw, str(path), path.parent, names=True, unknown="pydantic")
    evals: list[EvalSpec] = []
    for inc in suite.include:
        evals.extend(load_suite(inc, _seen + (path,)).evals)
    evals.extend(suite.evals)
    if suite.trust_code:  # the opt-in covers this file's own evals, not its includes'
        evals[len(evals) - len(suite.evals):] = [_trusting(e) for e in suite.evals]
    if not evals and not _seen:
        raise ConfigError(f"{path}: no evals (add [[evals]] tables or include = [...] other suites)")
    names = [e.name for e in evals]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: evals: duplicate eval name(s) {', '.join(map(repr, dupes))}")
    for name, gate in suite.gates.items():
        if name not in names:
            raise ConfigError(f"{path}: gates.{name}: no eval named {name!r} (evals: {', '.join(names)})")
        evals[names.index(name)] = evals[names.index(name)].model_copy(update={"gate": gate})
    digest = hashlib.sha256(path.read_bytes())
    for inc in suite.include:
        digest.update(Path(inc).read_bytes())
    return suite.model_copy(update={"evals": evals, "path": str(path), "sha256": digest.hexdigest()[:16]})
