"""`rlit train reward-model`: train a reward model on preference pairs and save a folder for the
``reward-model`` source.

Two kinds, chosen with ``kind`` in the config:

- ``minilm``: frozen MiniLM sentence embeddings plus a Bradley–Terry head (rlit/training/minilm_bt.py),
  trained in seconds on CPU;
- ``transformer``: any backbone as ``AutoModelForSequenceClassification`` with one label, trained
  with TRL's ``RewardTrainer`` (rlit/training/reward_transformer.py), LoRA optional.

Both hold out pairs (``eval_fraction`` or ``eval_file``), print the held-out pairwise accuracy and
write ``rlit-reward-model.json`` beside the weights: the folder format is rlit.lm.reward_model's
(and rlit.lm.minilm's), which the ``reward-model`` source reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Sequence

from pydantic import Field, model_validator

from rlit.configfile import AT_LEAST_1, NON_NEGATIVE, POSITIVE, ConfigModel, ConfigPath, Device, ModelName, build, load_stage
from rlit.atomic import check_writable, refuse_same_file
from rlit.interrupts import keeping
from rlit.lm.reward_model import DEFAULT_SEPARATOR, MINILM
from rlit.training.minilm_bt import train_minilm
from rlit.training.preference_data import Pair, file_hash, read_pairs_counted, split_common_prefix, split_pairs
from rlit.training.reward_transformer import train_transformer

POLICY_BASE = "@policy"  # in `rlit pipeline`: the model PPO starts from (the SFT model, else the base)


class RewardModelConfig(ConfigModel):
    """What `rlit train reward-model --config FILE.toml` reads (top-level keys of the file)."""

    train_file: ConfigPath = Field(description="JSONL(.gz) preference pairs: 'chosen', 'rejected', optional 'prompt' (TRL's format).")
    output_dir: ConfigPath = Field(description="Folder to write the trained reward model and its rlit-reward-model.json manifest to.")
    kind: Literal["minilm", "transformer"] = Field("minilm", description="'minilm': MiniLM embeddings + Bradley-Terry head; 'transformer': TRL RewardTrainer.")
    base_model: ModelName | None = Field(None, description=(
        "minilm: the sentence-embedding model (default builtin:all-minilm-l6-v2). transformer: a folder, hub id, "
        "builtin:tiny-gpt2, builtin:smollm2-135m-instruct or builtin:all-minilm-l6-v2, loaded as a one-label classifier; in "
        "`rlit pipeline`, '@policy' is the model PPO starts from (the SFT model)."))
    eval_file: ConfigPath | None = Field(None, description="Held-out pairs in a separate file; when unset, eval_fraction of train_file is held out.")
    eval_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(0.1, description="Share of train_file held out for pairwise accuracy when eval_file is unset.")
    limit: Annotated[int, AT_LEAST_1] | None = Field(None, description="Read at most this many pairs from train_file (quick runs).")
    seed: Annotated[int, NON_NEGATIVE] = Field(0, description="Seed for the split, head initialisation and training order.")
    separator: str = Field(DEFAULT_SEPARATOR, description="Between prompt and completion when a row has a prompt (no chat template): prompt + separator + completion.")
    max_length: Annotated[int, Field(ge=8)] = Field(256, description="Maximum tokens per text. minilm: the embedder's max_seq_length. transformer: see 'truncation'.")
    truncation: Literal["left", "drop"] = Field("left", description=(
        "transformer: a pair with a text over max_length is truncated from the left (keeps the completion's end) or "
        "dropped (TRL's own behaviour). Either way the count is reported."))
    drop_identical: bool = Field(False, description=(
        "Pairs whose chosen and rejected texts are equal (after stripping whitespace) are an error naming file:line; "
        "true drops them instead, and the count is reported and written to the manifest."))
    extract_prompt: bool = Field(False, description=(
        "Rows without a prompt: the longest common prefix of chosen and rejected (cut back to whitespace) becomes the "
        "prompt, as TRL's extract_prompt does for implicit-prompt data such as hh-rlhf."))
    # minilm
    features: Literal["text", "completion", "completion+prompt"] = Field("text", description="minilm: what is embedded: the joined text, the completion alone, or [e(completion), e(prompt)*e(completion)].")
    head: Literal["linear", "mlp"] = Field("linear", description="minilm: Bradley-Terry head, a linear map or a one-hidden-layer MLP.")
    hidden: Annotated[int, AT_LEAST_1] = Field(256, description="minilm: hidden units of the MLP head.")
    head_epochs: Annotated[int, AT_LEAST_1] = Field(100, description="minilm: full-batch AdamW steps for the head (more overfits: 100 was best on a validation split of hh-rlhf).")
    head_lr: Annotated[float, POSITIVE] = Field(1e-2, description="minilm: learning rate of the head.")
    head_weight_decay: Annotated[float, NON_NEGATIVE] = Field(0.1, description="minilm: AdamW weight decay of the head.")
    embed_batch_size: Annotated[int, AT_LEAST_1] = Field(64, description="minilm: texts per embedding batch.")
    # transformer
    epochs: Annotated[float, POSITIVE] = Field(1.0, description="transformer: training epochs.")
    learning_rate: Annotated[float, POSITIVE] = Field(5e-5, description="transformer: peak learning rate (linear decay).")
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="transformer: share of the training steps spent warming the learning rate up from 0.")
    batch_size: Annotated[int, AT_LEAST_1] = Field(8, description="transformer: pairs per device batch.")
    gradient_accumulation_steps: Annotated[int, AT_LEAST_1] = Field(1, description="transformer: batches per optimizer step.")
    lora: bool = Field(False, description="transformer: train LoRA adapters (merged into the saved model) instead of all weights.")
    lora_r: Annotated[int, AT_LEAST_1] = Field(8, description="transformer: LoRA rank.")
    lora_alpha: Annotated[int, AT_LEAST_1] = Field(16, description="transformer: LoRA alpha.")
    lora_target_modules: list[str] | None = Field(None, description="transformer: module names for LoRA (default: peft's choice for the architecture).")
    device: Device = Field("cpu", description="'cpu' (default: use_cpu, no bf16) or 'auto' (accelerator when present).")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="transformer: weights dtype when loading the backbone.")
    logging_steps: Annotated[int, AT_LEAST_1] = Field(10, description="transformer: log loss/accuracy every N steps.")
    save_steps: Annotated[int, AT_LEAST_1] = Field(200, description="transformer: checkpoint every N steps under output_dir/checkpoints (for resume).")
    resume: bool = Field(True, description="transformer: resume from the last checkpoint in output_dir/checkpoints when there is one.")
    score_batch_size: Annotated[int, AT_LEAST_1] = Field(16, description="Texts per batch when scoring the held-out pairs.")

    @model_validator(mode="after")
    def _base_model_fits_kind(self) -> "RewardModelConfig":
        if self.base_model is None:
            if self.kind == "transformer":
                raise ValueError("kind = 'transformer' needs key 'base_model' (a folder, hub id or builtin:tiny-gpt2)")
            self.base_model = MINILM
        if self.base_model == POLICY_BASE:  # `rlit pipeline` replaces it before the table is built
            raise ValueError("base_model = '@policy' (the SFT model) only works in `rlit pipeline`; give a folder or hub id")
        return self


def load_reward_model_config(source: str | Path | dict[str, Any], base: str | Path | None = None,
                             where: str = "reward-model config", sets: Sequence[str] = ()) -> RewardModelConfig:
    """The config from a TOML path (its ``[reward_model]`` table, or the whole file) or a dict.

    Errors name the file and key; relative paths resolve against the file's folder (a dict's
    against ``base``, the folder of the file it came from, when given).
    """
    if isinstance(source, dict):
        return build(RewardModelConfig, source, where, base)
    return load_stage(RewardModelConfig, source, "reward_model", sets)


@dataclass
class TrainResult:
    """What a training run reports: where it saved, held-out accuracy, counts and time."""

    output_dir: Path
    kind: str
    accuracy: float
    n_train: int
    n_eval: int
    dropped_for_length: int = 0
    truncated_for_length: int = 0
    seconds: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)
    dropped_identical: int = 0  # pairs with chosen == rejected, dropped (drop_identical = true)


def load_splits(cfg: RewardModelConfig) -> tuple[list[Pair], list[Pair], str]:
    """(train, held-out, data hash) per the config; identical pairs dropped are counted on ``cfg``."""
    pairs, dropped = read_pairs_counted(cfg.train_file, cfg.limit, cfg.drop_identical)
    pairs = _prepared(pairs, cfg)
    data_hash = file_hash(cfg.train_file)
    if cfg.eval_file:
        held, more = read_pairs_counted(cfg.eval_file, None, cfg.drop_identical)
        cfg._dropped_identical = dropped + more  # type: ignore[attr-defined]
        return pairs, _prepared(held, cfg), f"{data_hash}+{file_hash(cfg.eval_file)}"
    cfg._dropped_identical = dropped  # type: ignore[attr-defined]
    train, held = split_pairs(pairs, cfg.eval_fraction, cfg.seed)
    return train, held, data_hash


def _prepared(pairs: list[Pair], cfg: RewardModelConfig) -> list[Pair]:
    return [split_common_prefix(p) for p in pairs] if cfg.extract_prompt else pairs


def train_reward_model(cfg: RewardModelConfig, log: Callable[[str], None] = print) -> TrainResult:
    """Train per ``cfg.kind``, save the folder with its manifest, and return the result."""
    start = time.perf_counter()
    check_writable(cfg.output_dir, "output_dir", folder=True)  # before the data and the models load
    refuse_same_file({"train_file": cfg.train_file, "eval_file": cfg.eval_file}, {"output_dir": cfg.output_dir})
    train, held, data_hash = load_splits(cfg)
    dropped = getattr(cfg, "_dropped_identical", 0)
    log(f"{len(train)} training pairs, {len(held)} held-out pairs ({cfg.kind}, base {cfg.base_model})"
        + (f"; {dropped} pairs with chosen == rejected dropped" if dropped else ""))
    with keeping(f"nothing final is written until training ends; {cfg.output_dir} may hold a partial model"
                 + ("; rerun to resume from output_dir/checkpoints" if cfg.kind == "transformer" and cfg.resume else "")):
        train_kind = train_minilm if cfg.kind == "minilm" else train_transformer
        manifest = train_kind(cfg, train, held, data_hash, log)
    result = TrainResult(Path(cfg.output_dir), manifest["kind"], manifest["accuracy"], manifest["n_train"], manifest["n_eval"],
                         manifest.get("dropped_for_length", 0), manifest.get("truncated_for_length", 0), manifest=manifest)
    result.dropped_identical = dropped
    result.seconds = time.perf_counter() - start
    log(f"held-out pairwise accuracy {result.accuracy:.3f} on {result.n_eval} pairs; trained in {result.seconds:.1f} s; saved {result.output_dir}")
    return result
