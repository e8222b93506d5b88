"""The transformer reward model: a one-label sequence classifier trained with TRL's RewardTrainer.

rlit tokenizes the pairs itself (the same way TRL does: text + EOS) so that it can COUNT the pairs
over ``max_length`` that TRL would drop silently, and optionally keep them truncated from the left
instead. Text formatting, tokenizing and scoring are the folder format's (rlit.lm.reward_model),
which the ``reward-model`` source uses too, so a trained folder is scored exactly as it was trained.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from rlit.errors import ConfigError
from rlit.lm.reward_model import format_texts, load_sequence_classifier, score_ids, tokenize, write_manifest
from rlit.training.preference_data import Pair, pairwise_accuracy


def prepare_pairs(tok: Any, pairs: list[Pair], cfg: Any) -> tuple[list[list[int]], list[list[int]], int, int]:
    """(chosen ids, rejected ids, pairs dropped, pairs truncated) per ``cfg.truncation``."""
    prompts = [p.prompt for p in pairs]
    chosen = tokenize(tok, format_texts(tok, prompts, [p.chosen for p in pairs], cfg.separator), cfg.max_length)
    rejected = tokenize(tok, format_texts(tok, prompts, [p.rejected for p in pairs], cfg.separator), cfg.max_length)
    long_pair = chosen.long_rows | rejected.long_rows
    if cfg.truncation == "drop":
        keep = [i for i in range(len(pairs)) if i not in long_pair]
        return [chosen.ids[i] for i in keep], [rejected.ids[i] for i in keep], len(long_pair), 0
    return chosen.ids, rejected.ids, 0, len(long_pair)


def train_transformer(cfg: Any, train: list[Pair], held: list[Pair], data_hash: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Train a transformer folder (``cfg``: a RewardModelConfig, whose module calls this one); returns its manifest."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer

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
    return manifest
