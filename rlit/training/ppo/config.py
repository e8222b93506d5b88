"""The PPO run's configuration: one dataclass per TOML table, every field with help text.

A config file looks like (every table but ``[model]`` and ``[data]`` optional)::

    reward_config = "reward.toml"      # or an inline [reward] table (the composite's format)

    [model]
    policy = "builtin:tiny-gpt2"
    [data]
    train = "evals/data/instructions-train.jsonl"
    [ppo]
    steps = 200
    [output]
    dir = "runs/ppo"

Errors name the file and the key (``run.toml: [ppo] key 'kl_coeff': unknown key ... did you mean
'kl_coef'?``). Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

from rlit.configfile import AT_LEAST_1, NON_NEGATIVE, POSITIVE, UNIT_CLOSED, UNIT_OPEN_CLOSED, Device, build, help_text, naming_overrides, read_config, resolve_path
from rlit.errors import ConfigError
from rlit.training.trl_common import LoraOptions


@dataclass
class ModelConfig:
    """``[model]``: the policy, its frozen reference, and the critic."""

    policy: str = field(metadata={"model": True, "help": "Policy to train: a local folder, a hub id, or builtin:smollm2-135m-instruct / builtin:tiny-gpt2."})
    reference: str | None = field(default=None, metadata={"model": True, "help": "Frozen reference for the KL penalty; default: a frozen copy of the policy (with LoRA: the base with adapters disabled, no copy)."})
    value_model: str | None = field(default=None, metadata={"model": True, "help": "Critic initialisation: a sequence-classifier folder (its backbone and score head) or a causal LM (its backbone plus a new scalar head); default: the policy."})
    value_head_on_policy: bool = field(default=False, metadata={"help": "Instead of a separate critic, put a scalar value head on the policy's own backbone (saves memory; value gradients reach the policy)."})
    dtype: Literal["float32", "bfloat16", "float16"] = field(default="float32", metadata={"help": "Weights dtype for policy, reference and critic."})
    device: Device = field(default="auto", metadata={"help": "auto (GPU when present), cpu or cuda; under `accelerate launch` accelerate decides."})
    lora: LoraOptions | None = field(default=None, metadata={"help": "Train LoRA adapters (peft) on the policy; the reference is then the base with adapters disabled."})


@dataclass
class DataConfig:
    """``[data]``: prompts (JSONL rows with a prompt column plus any columns the reward sources read)."""

    train: str = field(metadata={"path": True, "help": "Training prompts, JSONL; every other column (instruction_id_list, kwargs, ...) is passed to the reward sources."})
    validation: str | None = field(default=None, metadata={"path": True, "help": "Validation prompts for the periodic evaluation when no eval suite is set (informational)."})
    prompt_column: str = field(default="prompt", metadata={"help": "Column holding the prompt text."})
    shuffle: bool = field(default=True, metadata={"help": "Shuffle the prompts each pass (seeded; the position is checkpointed)."})
    max_prompt_tokens: Annotated[int, AT_LEAST_1] = field(default=256, metadata={"help": "Prompts longer than this many tokens are cut from the left."})
    chat_template: Literal["auto", "always", "never"] = field(default="auto", metadata={"help": "auto: wrap each prompt as a user message with the tokenizer's chat template when it has one; always: fail if it has none; never: raw text."})
    sft: str | None = field(default=None, metadata={"path": True, "help": "Demonstrations for the PPO-ptx term (ppo.ptx_coef): prompt/completion JSONL, e.g. the SFT data. Prompts are formatted as the rollout formats them."})
    sft_completion_column: str = field(default="completion", metadata={"help": "Column of the sft rows holding the demonstration."})
    sft_max_tokens: Annotated[int, AT_LEAST_1] = field(default=256, metadata={"help": "Demonstration tokens (EOS included) kept per sft row; longer ones are cut."})


@dataclass
class GenerationConfig:
    """``[generation]``: sampling the rollouts."""

    max_new_tokens: Annotated[int, AT_LEAST_1] = field(default=64, metadata={"help": "Most tokens generated per response; generation stops early at EOS."})
    temperature: Annotated[float, POSITIVE] = field(default=0.7, metadata={"help": "Sampling temperature; log-probabilities (policy and reference) use the same temperature, as TRL's PPO does."})
    top_p: Annotated[float, UNIT_OPEN_CLOSED] = field(default=1.0, metadata={"help": "Nucleus sampling threshold (1.0 = off). Log-probabilities stay those of the full tempered distribution."})
    missing_eos_penalty: float | None = field(default=None, metadata={"help": "Subtracted from the score of a response that reached max_new_tokens without EOS; unset = no penalty."})


@dataclass
class PPOConfig:
    """``[ppo]``: the optimisation (defaults follow TRL 1.12's PPO)."""

    steps: Annotated[int, AT_LEAST_1] = field(default=100, metadata={"help": "PPO steps (one rollout batch + its update each)."})
    batch_size: Annotated[int, AT_LEAST_1] = field(default=16, metadata={"help": "Responses per step, per process (batch_size / samples_per_prompt prompts)."})
    samples_per_prompt: Annotated[int, AT_LEAST_1] = field(default=1, metadata={"help": "Responses sampled for each prompt in a step."})
    group_baseline: bool = field(default=False, metadata={"help": "Subtract from each response's score the mean score of the other responses to its prompt (leave-one-out, as RLOO) before the KL penalty and GAE, so advantages compare answers to one prompt rather than prompts of different difficulty. Needs samples_per_prompt >= 2."})
    mini_batches: Annotated[int, AT_LEAST_1] = field(default=1, metadata={"help": "Minibatches each batch is split into per PPO epoch (one optimiser step each)."})
    ppo_epochs: Annotated[int, AT_LEAST_1] = field(default=4, metadata={"help": "Passes over each rollout batch."})
    learning_rate: Annotated[float, POSITIVE] = field(default=3e-6, metadata={"help": "AdamW learning rate of the policy (and of the critic unless critic_learning_rate is set)."})
    critic_learning_rate: Annotated[float, POSITIVE] | None = field(default=None, metadata={"help": "AdamW learning rate of the critic (or the value head); unset = learning_rate. A faster critic learns each prompt's expected reward sooner, so advantages carry less prompt-difficulty noise."})
    critic_warmup_steps: Annotated[int, NON_NEGATIVE] = field(default=0, metadata={"help": "First steps that train only the critic (the policy is frozen; with value_head_on_policy only the head learns), so the first policy updates use a fitted baseline."})
    lr_schedule: Literal["linear", "constant"] = field(default="linear", metadata={"help": "linear: decay to 0 over `steps`; constant."})
    warmup_steps: Annotated[int, NON_NEGATIVE] = field(default=0, metadata={"help": "Linear warm-up steps."})
    weight_decay: Annotated[float, NON_NEGATIVE] = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: Annotated[float, POSITIVE] | None = field(default=1.0, metadata={"help": "Clip the gradient norm to this (unset = no clipping)."})
    kl_coef: Annotated[float, NON_NEGATIVE] = field(default=0.05, metadata={"help": "KL penalty coefficient (the start value when adaptive_kl is on)."})
    kl_penalty: Literal["reward", "loss"] = field(default="reward", metadata={"help": "reward: -kl_coef * KL per token in the rewards (TRL's PPO); every token then also pays for the KL still to come, which rewards ending early. loss: kl_coef * mean k3 KL to the reference over the response tokens in the policy loss (as GRPO), no length incentive; rewards carry only the score."})
    kl_estimator: Literal["k1", "k3"] = field(default="k1", metadata={"help": "Per-token KL estimator: k1 = logp - ref_logp; k3 = exp(ref-logp) - 1 - (ref-logp) (unbiased, non-negative)."})
    adaptive_kl: bool = field(default=False, metadata={"help": "Adapt kl_coef towards target_kl (Ziegler et al. 2019 controller)."})
    target_kl: Annotated[float, POSITIVE] = field(default=6.0, metadata={"help": "Adaptive KL target: summed KL per response."})
    kl_horizon: Annotated[int, AT_LEAST_1] = field(default=10000, metadata={"help": "Adaptive KL horizon in samples."})
    gamma: Annotated[float, UNIT_CLOSED] = field(default=1.0, metadata={"help": "GAE discount."})
    lam: Annotated[float, UNIT_CLOSED] = field(default=0.95, metadata={"help": "GAE lambda."})
    cliprange: Annotated[float, POSITIVE] = field(default=0.2, metadata={"help": "Policy ratio clip range."})
    cliprange_value: Annotated[float, POSITIVE] = field(default=0.2, metadata={"help": "Value prediction clip range around the rollout values."})
    vf_coef: Annotated[float, NON_NEGATIVE] = field(default=0.1, metadata={"help": "Weight of the value loss in the total loss."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Whiten the advantages over the batch's response tokens (TRL's PPO always does). Whitening rescales every batch to unit variance, also a batch with no reward differences (all scores equal), whose advantages are then only value-estimate and KL noise; off, advantages keep the reward's scale."})
    whiten_rewards: bool = field(default=False, metadata={"help": "Whiten per-token rewards (without shifting the mean) before GAE."})
    ptx_coef: Annotated[float, NON_NEGATIVE] = field(default=0.0, metadata={"help": "PPO-ptx (InstructGPT): adds ptx_coef x the mean negative log-likelihood of a minibatch of [data] sft demonstrations to every policy update, so behaviour the reward does not cover is not forgotten. 0 = off."})
    ptx_batch_size: Annotated[int, AT_LEAST_1] = field(default=8, metadata={"help": "Demonstrations per policy update (minibatch) when ptx_coef > 0."})
    seed: Annotated[int, NON_NEGATIVE] = field(default=0, metadata={"help": "Seed for data order, sampling and minibatch order."})
    deterministic: bool = field(default=False, metadata={"help": "torch.use_deterministic_algorithms(True) (needed for bit-exact resume on GPU)."})

    def __post_init__(self) -> None:
        # Single-key bounds live in the field types (checked first); these rules tie keys together.
        if not self.critic_warmup_steps < self.steps:
            raise ValueError(f"critic_warmup_steps {self.critic_warmup_steps} must be >= 0 and below steps ({self.steps})")
        if self.batch_size % self.samples_per_prompt:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by samples_per_prompt {self.samples_per_prompt}")
        if self.group_baseline and self.samples_per_prompt < 2:
            raise ValueError("group_baseline needs samples_per_prompt >= 2 (a prompt's other responses are the baseline)")
        if self.batch_size % self.mini_batches:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by mini_batches {self.mini_batches}")


@dataclass
class OutputConfig:
    """``[output]``: where logs and checkpoints go, and how often."""

    dir: str = field(default="runs/ppo", metadata={"path": True, "help": "Run folder: steps.jsonl, checkpoints/, final/ (policy and tokenizer), summary.json."})
    save_every: Annotated[int, NON_NEGATIVE] = field(default=50, metadata={"help": "Checkpoint every this many steps (and at the end); 0 = only at the end."})
    keep_checkpoints: Annotated[int, NON_NEGATIVE] = field(default=2, metadata={"help": "Newest checkpoints kept; older ones are deleted."})
    eval_every: Annotated[int, NON_NEGATIVE] = field(default=0, metadata={"help": "Evaluate every this many steps (and before the first and after the last); 0 = never."})
    keep_best: bool = field(default=False, metadata={"help": "final/ holds the policy of the periodic evaluation with the best watched metric (eval.metric; the earliest on ties; step 0 counts) instead of the last step's: early stopping on the validation suite. Needs eval.suite and eval_every."})
    log_samples: Annotated[int, NON_NEGATIVE] = field(default=1, metadata={"help": "Prompt/completion pairs written to each step's log line."})


@dataclass
class EvalConfig:
    """``[eval]``: the periodic held-out evaluation, through the eval-suite code."""

    suite: str | None = field(default=None, metadata={"path": True, "help": "Eval suite file (see docs/evaluation.md); unset = no periodic evaluation."})
    metric: str | None = field(default=None, metadata={"help": "Metric the hacking watch follows (default: the suite's first)."})
    limit: Annotated[int, AT_LEAST_1] | None = field(default=None, metadata={"help": "Evaluate only the first N prompts of each eval (faster during training)."})


@dataclass
class WatchConfig:
    """``[watch]``: the reward-hacking watch."""

    max_source_share: Annotated[float, UNIT_OPEN_CLOSED] = field(default=0.8, metadata={"help": "Warn when one source's share of the total reward passes this (0-1)."})
    min_reward_rise: Annotated[float, NON_NEGATIVE] = field(default=0.0, metadata={"help": "Training-reward rise (vs the first evaluation) above which a falling validation metric is flagged."})
    min_metric_drop: Annotated[float, NON_NEGATIVE] = field(default=0.0, metadata={"help": "Validation-metric drop (vs the first evaluation) above which it counts as falling."})
    window: Annotated[int, AT_LEAST_1] = field(default=10, metadata={"help": "Steps averaged for the training reward the watch compares."})


@dataclass
class PPORunConfig:
    """A whole ``rlit train ppo`` config file."""

    model: ModelConfig
    data: DataConfig
    reward: dict[str, Any] | str
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    source: str = "<dict>"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TABLES: dict[str, type] = {
    "model": ModelConfig, "data": DataConfig, "generation": GenerationConfig, "ppo": PPOConfig,
    "output": OutputConfig, "eval": EvalConfig, "watch": WatchConfig,
}


def load_ppo_config(path: str | Path, sets: Sequence[str] = ()) -> PPORunConfig:
    """Read a PPO config file; every error names the file and the key (or the ``--set`` in ``sets``)."""
    p = Path(path)
    data, where = read_config(p, sets), str(p)
    if isinstance(data.get("ppo"), dict) and isinstance(data["ppo"].get("model"), dict):
        data, where = data["ppo"], f"{p}: [ppo]"  # a pipeline file: the whole stage under [ppo]
    with naming_overrides(sets):
        return ppo_config_from_dict(data, where, p.resolve().parent)


def ppo_config_from_dict(data: dict[str, Any], where: str = "<config>", base: Path | None = None) -> PPORunConfig:
    """Build the run config from parsed TOML; ``base`` resolves relative paths."""
    known = set(TABLES) | {"reward", "reward_config"}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown table or key {key!r}{hint}; known: {', '.join(sorted(known))}")
    tables: dict[str, Any] = {}
    for name, cls in TABLES.items():
        if name in ("model", "data") and name not in data:
            raise ConfigError(f"{where}: missing table [{name}]")
        tables[name] = build(cls, data.get(name, {}), f"{where}: [{name}]", base)
    if tables["ppo"].ptx_coef > 0 and not tables["data"].sft:
        raise ConfigError(f"{where}: [ppo] ptx_coef > 0 needs [data] sft (the demonstrations JSONL)")
    if tables["output"].keep_best and not (tables["eval"].suite and tables["output"].eval_every > 0):
        raise ConfigError(f"{where}: [output] keep_best needs [eval] suite and [output] eval_every > 0 (it picks among the evaluations)")
    return PPORunConfig(reward=_reward_spec(data, where, base), source=where, **tables)


def _reward_spec(data: dict[str, Any], where: str, base: Path | None) -> dict[str, Any] | str:
    """The composite reward's config: an inline ``[reward]`` table or a ``reward_config`` path."""
    if "reward" in data and "reward_config" in data:
        raise ConfigError(f"{where}: set either [reward] or reward_config, not both")
    if "reward_config" in data:
        value = data["reward_config"]
        if not isinstance(value, str):
            raise ConfigError(f"{where}: key 'reward_config' should be a path string")
        path = Path(resolve_path(value, base) if base is not None else value)
        if not path.is_file():
            raise ConfigError(f"{where}: key 'reward_config': file not found: {path}")
        return str(path)
    if "reward" in data:
        if not isinstance(data["reward"], dict):
            raise ConfigError(f"{where}: [reward] should be a table (the reward config's format)")
        return data["reward"]
    raise ConfigError(f"{where}: no reward: add a [reward] table with [[reward.sources]] or reward_config = \"reward.toml\"")


def config_reference() -> str:
    """Markdown tables of every key with its default and help (docs/training-ppo.md holds its output)."""
    lines = []
    for name, cls in [*TABLES.items(), ("model.lora", LoraOptions)]:
        lines += [f"### [{name}]", "", "| key | default | meaning |", "| --- | --- | --- |"]
        helps = help_text(cls)
        for f in dataclasses.fields(cls):
            default = "required" if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING else repr(f.default)
            lines.append(f"| `{f.name}` | `{default}` | {helps[f.name]} |")
        lines.append("")
    return "\n".join(lines)
