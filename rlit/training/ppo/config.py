"""The PPO run's configuration: one config model per TOML table, every field with help text.

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

Errors name the file and the key (``run.toml: [ppo]: unknown key 'kl_coeff' (did you mean
'kl_coef'?)``). Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

from pydantic import Field, PrivateAttr, field_validator, model_validator

from rlit.configfile import (AT_LEAST_1, NON_NEGATIVE, POSITIVE, UNIT_CLOSED, UNIT_OPEN_CLOSED, ConfigModel, ConfigPath, Device, ModelName,
                             build, naming_overrides, read_config, reference_table)
from rlit.rewards.config import InlineReward
from rlit.training.trl_common import LoraOptions


class ModelConfig(ConfigModel):
    """``[model]``: the policy, its frozen reference, and the critic."""

    policy: ModelName = Field(description="Policy to train: a local folder, a hub id, or builtin:smollm2-135m-instruct / builtin:tiny-gpt2.")
    reference: ModelName | None = Field(None, description="Frozen reference for the KL penalty; default: a frozen copy of the policy (with LoRA: the base with adapters disabled, no copy).")
    value_model: ModelName | None = Field(None, description="Critic initialisation: a sequence-classifier folder (its backbone and score head) or a causal LM (its backbone plus a new scalar head); default: the policy.")
    value_head_on_policy: bool = Field(False, description="Instead of a separate critic, put a scalar value head on the policy's own backbone (saves memory; value gradients reach the policy).")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="Weights dtype for policy, reference and critic.")
    device: Device = Field("auto", description="auto (GPU when present), cpu or cuda; under `accelerate launch` accelerate decides.")
    lora: LoraOptions | None = Field(None, description="Train LoRA adapters (peft) on the policy; the reference is then the base with adapters disabled.")


class DataConfig(ConfigModel):
    """``[data]``: prompts (JSONL rows with a prompt column plus any columns the reward sources read)."""

    train: ConfigPath = Field(description="Training prompts, JSONL; every other column (instruction_id_list, kwargs, ...) is passed to the reward sources.")
    validation: ConfigPath | None = Field(None, description="Validation prompts for the periodic evaluation when no eval suite is set (informational).")
    prompt_column: str = Field("prompt", description="Column holding the prompt text.")
    shuffle: bool = Field(True, description="Shuffle the prompts each pass (seeded; the position is checkpointed).")
    max_prompt_tokens: Annotated[int, AT_LEAST_1] = Field(256, description="Prompts longer than this many tokens are cut from the left.")
    chat_template: Literal["auto", "always", "never"] = Field("auto", description="auto: wrap each prompt as a user message with the tokenizer's chat template when it has one; always: fail if it has none; never: raw text.")
    sft: ConfigPath | None = Field(None, description="Demonstrations for the PPO-ptx term (ppo.ptx_coef): prompt/completion JSONL, e.g. the SFT data. Prompts are formatted as the rollout formats them.")
    sft_completion_column: str = Field("completion", description="Column of the sft rows holding the demonstration.")
    sft_max_tokens: Annotated[int, AT_LEAST_1] = Field(256, description="Demonstration tokens (EOS included) kept per sft row; longer ones are cut.")


class GenerationConfig(ConfigModel):
    """``[generation]``: sampling the rollouts."""

    max_new_tokens: Annotated[int, AT_LEAST_1] = Field(64, description="Most tokens generated per response; generation stops early at EOS.")
    temperature: Annotated[float, POSITIVE] = Field(0.7, description="Sampling temperature; log-probabilities (policy and reference) use the same temperature, as TRL's PPO does.")
    top_p: Annotated[float, UNIT_OPEN_CLOSED] = Field(1.0, description="Nucleus sampling threshold (1.0 = off). Log-probabilities stay those of the full tempered distribution.")
    missing_eos_penalty: float | None = Field(None, description="Subtracted from the score of a response that reached max_new_tokens without EOS; unset = no penalty.")


class PPOConfig(ConfigModel):
    """``[ppo]``: the optimisation (defaults follow TRL 1.12's PPO)."""

    steps: Annotated[int, AT_LEAST_1] = Field(100, description="PPO steps (one rollout batch + its update each).")
    batch_size: Annotated[int, AT_LEAST_1] = Field(16, description="Responses per step, per process (batch_size / samples_per_prompt prompts).")
    samples_per_prompt: Annotated[int, AT_LEAST_1] = Field(1, description="Responses sampled for each prompt in a step.")
    group_baseline: bool = Field(False, description="Subtract from each response's score the mean score of the other responses to its prompt (leave-one-out, as RLOO) before the KL penalty and GAE, so advantages compare answers to one prompt rather than prompts of different difficulty. Needs samples_per_prompt >= 2.")
    mini_batches: Annotated[int, AT_LEAST_1] = Field(1, description="Minibatches each batch is split into per PPO epoch (one optimiser step each).")
    ppo_epochs: Annotated[int, AT_LEAST_1] = Field(4, description="Passes over each rollout batch.")
    learning_rate: Annotated[float, POSITIVE] = Field(3e-6, description="AdamW learning rate of the policy (and of the critic unless critic_learning_rate is set).")
    critic_learning_rate: Annotated[float, POSITIVE] | None = Field(None, description="AdamW learning rate of the critic (or the value head); unset = learning_rate. A faster critic learns each prompt's expected reward sooner, so advantages carry less prompt-difficulty noise.")
    critic_warmup_steps: Annotated[int, NON_NEGATIVE] = Field(0, description="First steps that train only the critic (the policy is frozen; with value_head_on_policy only the head learns), so the first policy updates use a fitted baseline.")
    lr_schedule: Literal["linear", "constant"] = Field("linear", description="linear: decay to 0 over `steps`; constant.")
    warmup_steps: Annotated[int, NON_NEGATIVE] = Field(0, description="Linear warm-up steps.")
    weight_decay: Annotated[float, NON_NEGATIVE] = Field(0.0, description="AdamW weight decay.")
    max_grad_norm: Annotated[float, POSITIVE] | None = Field(1.0, description="Clip the gradient norm to this (unset = no clipping).")
    kl_coef: Annotated[float, NON_NEGATIVE] = Field(0.05, description="KL penalty coefficient (the start value when adaptive_kl is on).")
    kl_penalty: Literal["reward", "loss"] = Field("reward", description="reward: -kl_coef * KL per token in the rewards (TRL's PPO); every token then also pays for the KL still to come, which rewards ending early. loss: kl_coef * mean k3 KL to the reference over the response tokens in the policy loss (as GRPO), no length incentive; rewards carry only the score.")
    kl_estimator: Literal["k1", "k3"] = Field("k1", description="Per-token KL estimator: k1 = logp - ref_logp; k3 = exp(ref-logp) - 1 - (ref-logp) (unbiased, non-negative).")
    adaptive_kl: bool = Field(False, description="Adapt kl_coef towards target_kl (Ziegler et al. 2019 controller).")
    target_kl: Annotated[float, POSITIVE] = Field(6.0, description="Adaptive KL target: summed KL per response.")
    kl_horizon: Annotated[int, AT_LEAST_1] = Field(10000, description="Adaptive KL horizon in samples.")
    gamma: Annotated[float, UNIT_CLOSED] = Field(1.0, description="GAE discount.")
    lam: Annotated[float, UNIT_CLOSED] = Field(0.95, description="GAE lambda.")
    cliprange: Annotated[float, POSITIVE] = Field(0.2, description="Policy ratio clip range.")
    cliprange_value: Annotated[float, POSITIVE] = Field(0.2, description="Value prediction clip range around the rollout values.")
    vf_coef: Annotated[float, NON_NEGATIVE] = Field(0.1, description="Weight of the value loss in the total loss.")
    whiten_advantages: bool = Field(True, description="Whiten the advantages over the batch's response tokens (TRL's PPO always does). Whitening rescales every batch to unit variance, also a batch with no reward differences (all scores equal), whose advantages are then only value-estimate and KL noise; off, advantages keep the reward's scale.")
    whiten_rewards: bool = Field(False, description="Whiten per-token rewards (without shifting the mean) before GAE.")
    ptx_coef: Annotated[float, NON_NEGATIVE] = Field(0.0, description="PPO-ptx (InstructGPT): adds ptx_coef x the mean negative log-likelihood of a minibatch of [data] sft demonstrations to every policy update, so behaviour the reward does not cover is not forgotten. 0 = off.")
    ptx_batch_size: Annotated[int, AT_LEAST_1] = Field(8, description="Demonstrations per policy update (minibatch) when ptx_coef > 0.")
    seed: Annotated[int, NON_NEGATIVE] = Field(0, description="Seed for data order, sampling and minibatch order.")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms(True) (needed for bit-exact resume on GPU).")

    @model_validator(mode="after")
    def _cross_key_rules(self) -> "PPOConfig":
        # Single-key bounds live in the field types (checked first); these rules tie keys together.
        if not self.critic_warmup_steps < self.steps:
            raise ValueError(f"critic_warmup_steps {self.critic_warmup_steps} must be >= 0 and below steps ({self.steps})")
        if self.batch_size % self.samples_per_prompt:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by samples_per_prompt {self.samples_per_prompt}")
        if self.group_baseline and self.samples_per_prompt < 2:
            raise ValueError("group_baseline needs samples_per_prompt >= 2 (a prompt's other responses are the baseline)")
        if self.batch_size % self.mini_batches:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by mini_batches {self.mini_batches}")
        return self


class OutputConfig(ConfigModel):
    """``[output]``: where logs and checkpoints go, and how often."""

    dir: ConfigPath = Field("runs/ppo", description="Run folder: steps.jsonl, checkpoints/, final/ (policy and tokenizer), summary.json.")
    save_every: Annotated[int, NON_NEGATIVE] = Field(50, description="Checkpoint every this many steps (and at the end); 0 = only at the end.")
    keep_checkpoints: Annotated[int, NON_NEGATIVE] = Field(2, description="Newest checkpoints kept; older ones are deleted.")
    eval_every: Annotated[int, NON_NEGATIVE] = Field(0, description="Evaluate every this many steps (and before the first and after the last); 0 = never.")
    keep_best: bool = Field(False, description="final/ holds the policy of the periodic evaluation with the best watched metric (eval.metric; the earliest on ties; step 0 counts) instead of the last step's: early stopping on the validation suite. Needs eval.suite and eval_every.")
    log_samples: Annotated[int, NON_NEGATIVE] = Field(1, description="Prompt/completion pairs written to each step's log line.")


class EvalConfig(ConfigModel):
    """``[eval]``: the periodic held-out evaluation, through the eval-suite code."""

    suite: ConfigPath | None = Field(None, description="Eval suite file (see docs/evaluation.md); unset = no periodic evaluation.")
    metric: str | None = Field(None, description="Metric the hacking watch follows (default: the suite's first).")
    limit: Annotated[int, AT_LEAST_1] | None = Field(None, description="Evaluate only the first N prompts of each eval (faster during training).")


class WatchConfig(ConfigModel):
    """``[watch]``: the reward-hacking watch."""

    max_source_share: Annotated[float, UNIT_OPEN_CLOSED] = Field(0.8, description="Warn when one source's share of the total reward passes this (0-1).")
    min_reward_rise: Annotated[float, NON_NEGATIVE] = Field(0.0, description="Training-reward rise (vs the first evaluation) above which a falling validation metric is flagged.")
    min_metric_drop: Annotated[float, NON_NEGATIVE] = Field(0.0, description="Validation-metric drop (vs the first evaluation) above which it counts as falling.")
    window: Annotated[int, AT_LEAST_1] = Field(10, description="Steps averaged for the training reward the watch compares.")


class PPORunConfig(ConfigModel):
    """A whole ``rlit train ppo`` config file: one model per table, validated in one pass."""

    model: ModelConfig
    data: DataConfig
    reward: InlineReward | str | None = Field(
        None, description="The composite reward as an inline [reward] table (docs/reward-config.md); once loaded, the path of reward_config when that was given instead.")
    reward_config: ConfigPath | None = Field(None, description="Path of a reward TOML instead of a [reward] table.")
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    watch: WatchConfig = Field(default_factory=WatchConfig)
    _source: str = PrivateAttr("<dict>")  # the file (and table) it was read from, for messages

    @property
    def source(self) -> str:
        return self._source

    @field_validator("reward", mode="before")
    @classmethod
    def _reward_is_a_table(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("should be a table (the reward config's format), or use reward_config = \"reward.toml\"")
        return value

    @model_validator(mode="after")
    def _cross_table_rules(self) -> "PPORunConfig":
        if self.reward is not None and self.reward_config is not None:
            raise ValueError("set either [reward] or reward_config, not both")
        if self.reward_config is not None:
            if not Path(self.reward_config).is_file():
                raise ValueError(f"key 'reward_config': file not found: {self.reward_config}")
            self.reward, self.reward_config = self.reward_config, None  # consumers read one key
        if self.reward is None:
            raise ValueError("no reward: add a [reward] table with [[reward.sources]] or reward_config = \"reward.toml\"")
        if self.ppo.ptx_coef > 0 and not self.data.sft:
            raise ValueError("[ppo] ptx_coef > 0 needs [data] sft (the demonstrations JSONL)")
        if self.output.keep_best and not (self.eval.suite and self.output.eval_every > 0):
            raise ValueError("[output] keep_best needs [eval] suite and [output] eval_every > 0 (it picks among the evaluations)")
        return self

    def to_dict(self) -> dict[str, Any]:
        """What config.json and the resume fingerprint record (reward_config is folded into reward)."""
        return {**self.model_dump(exclude={"reward_config"}), "source": self.source}


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
    """Build the run config from parsed TOML (errors show tables as ``[ppo] key``); ``base`` resolves relative paths."""
    cfg = build(PPORunConfig, data, where, base, tables=True)
    cfg._source = where
    return cfg


def config_reference() -> str:
    """Markdown tables of every key with its default and help (docs/training-ppo.md holds its output)."""
    return "\n".join(line for name, cls in [*TABLES.items(), ("model.lora", LoraOptions)] for line in reference_table(cls, f"[{name}]"))
