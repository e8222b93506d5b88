"""Instruction tuning (SFT) with TRL's SFTTrainer on prompt/completion JSONL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from rlit.atomic import check_writable, refuse_same_file
from rlit.configfile import AT_LEAST_1, NON_NEGATIVE, POSITIVE, ConfigModel, ConfigPath, Device, ModelName
from rlit.errors import ConfigError
from rlit.interrupts import keeping
from rlit.jsonl import read_rows
from rlit.lm.loading import load_causal_lm
from rlit.training.trl_common import LoraOptions, apply_lora, trl_device_kwargs


class SFTStageConfig(ConfigModel):
    """``[sft]`` table of a training config (or a whole ``rlit train sft`` config file)."""

    model: ModelName = Field(description="Base model: a local folder, a hub id, or builtin:smollm2-135m-instruct / builtin:tiny-gpt2.")
    train_file: ConfigPath = Field(description="JSONL with `prompt` and `completion` (strings; other columns are ignored).")
    output_dir: ConfigPath = Field(description="Folder the tuned model and tokenizer are saved to.")
    eval_file: ConfigPath | None = Field(None, description="Optional held-out JSONL in the same format; its loss is reported.")
    max_length: Annotated[int, AT_LEAST_1] = Field(256, description="Longest tokenised prompt+completion; longer rows are truncated.")
    epochs: Annotated[float, POSITIVE] = Field(3.0, description="Passes over the training data (ignored when max_steps > 0).")
    max_steps: Annotated[int, Field(ge=-1)] = Field(-1, description="Stop after this many optimiser steps (-1: use epochs).")
    learning_rate: Annotated[float, POSITIVE] = Field(5e-4, description="Peak learning rate (linear decay).")
    batch_size: Annotated[int, AT_LEAST_1] = Field(8, description="Rows per device per step.")
    gradient_accumulation_steps: Annotated[int, AT_LEAST_1] = Field(1, description="Steps accumulated per optimiser update.")
    warmup_steps: Annotated[float, NON_NEGATIVE] = Field(0.03, description="Warm-up: steps, or a share of all steps when below 1.")
    seed: Annotated[int, NON_NEGATIVE] = Field(0, description="Seed for data order and initialisation.")
    group_by_length: bool = Field(
        False, description="Batch rows of similar length together (less padding, faster steps); the batches still come in random order.")
    device: Device = Field("auto", description="auto (GPU when present), cpu or cuda.")
    lm_head_loss: Literal["auto", "fused", "full"] = Field(
        "auto",
        description="fused: TRL's chunked LM head (never holds the full logits; for GPUs and large vocabularies); "
                    "full: plain logits + cross-entropy (the same loss; the quick start's SFT steps take 0.73x the time on a CPU); "
                    "auto: full on the CPU, fused elsewhere.")
    lora: LoraOptions | None = Field(None, description="Train LoRA adapters instead of all weights (merged on save).")
    conversational: Literal["auto", "yes", "no"] = Field(
        "auto",
        description="auto: use the tokenizer's chat template when it has one; yes/no force it. Without it prompt and completion are concatenated.")


def read_prompt_completion(path: str | Path) -> list[dict[str, str]]:
    """Rows of a prompt/completion JSONL; malformed lines are DataErrors naming file:line."""
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in read_rows(path, ("prompt", "completion"))]


def _as_dataset(rows: list[dict[str, str]], conversational: bool) -> Any:
    from datasets import Dataset

    if conversational:
        rows = [
            {"prompt": [{"role": "user", "content": r["prompt"]}], "completion": [{"role": "assistant", "content": r["completion"]}]}
            for r in rows
        ]
    return Dataset.from_list(rows)


def train_sft(cfg: SFTStageConfig) -> dict[str, Any]:
    """Run SFT and save the model to ``cfg.output_dir``. Returns train/eval losses and timings."""
    from trl import SFTConfig, SFTTrainer

    # Cheap checks first: options, the output folder and the data fail before the model loads.
    if cfg.conversational not in ("auto", "yes", "no"):
        raise ConfigError(f"sft.conversational: expected auto, yes or no, got {cfg.conversational!r}")
    if cfg.lm_head_loss not in ("auto", "fused", "full"):
        raise ConfigError(f"sft.lm_head_loss: expected auto, fused or full, got {cfg.lm_head_loss!r}")
    refuse_same_file({"train_file": cfg.train_file, "eval_file": cfg.eval_file}, {"output_dir": cfg.output_dir})
    check_writable(cfg.output_dir, "output_dir", folder=True)
    train_rows = read_prompt_completion(cfg.train_file)
    eval_rows = read_prompt_completion(cfg.eval_file) if cfg.eval_file else None
    model, tok = load_causal_lm(cfg.model)
    model.train()
    has_template = bool(getattr(tok, "chat_template", None))
    conversational = has_template if cfg.conversational == "auto" else cfg.conversational == "yes"
    if conversational and not has_template:
        raise ConfigError(f"sft.conversational = 'yes' but the tokenizer of {cfg.model!r} has no chat template")
    train = _as_dataset(train_rows, conversational)
    evals = _as_dataset(eval_rows, conversational) if eval_rows is not None else None
    model = apply_lora(model, cfg.lora)
    args = SFTConfig(
        output_dir=str(Path(cfg.output_dir) / "trainer"),
        max_length=cfg.max_length,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_steps=cfg.warmup_steps,
        seed=cfg.seed,
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        **trl_device_kwargs(cfg.device),
    )
    trainer_class = _length_grouped(SFTTrainer) if cfg.group_by_length else SFTTrainer
    if cfg.lm_head_loss == "full" or (cfg.lm_head_loss == "auto" and args.use_cpu):
        trainer_class = _full_logits_loss(trainer_class)
    trainer = trainer_class(model=model, args=args, train_dataset=train, eval_dataset=evals, processing_class=tok)
    start = time.perf_counter()
    with keeping(f"SFT keeps no checkpoints: nothing is saved to {cfg.output_dir} until training ends; rerun to start again"):
        result = trainer.train()
    out: dict[str, Any] = {"train_loss": result.training_loss, "steps": result.global_step, "seconds": time.perf_counter() - start}
    if evals is not None:
        out["eval_loss"] = trainer.evaluate()["eval_loss"]
    save_model(trainer.model, tok, cfg.output_dir)
    return out


class LengthGroupedBatches:
    """Batches of rows of similar length, in random order: each pass shuffles the rows, sorts each
    chunk of ``chunk_batches`` batches by length, cuts it into batches and shuffles all batches.

    transformers' own ``group_by_length`` sampler does the first two steps but serves each chunk
    longest to shortest, so training ends on a run of the shortest rows: the quick start's SFT
    model trained that way scored 0.177 held-out (greedy prompt-level), with these batches 0.213,
    with shuffled rows 0.260 (docs/training.md).
    """

    def __init__(self, lengths: list[int], batch_size: int, chunk_batches: int = 50):
        self.lengths, self.batch_size = lengths, batch_size
        self.chunk = batch_size * max(1, min(chunk_batches, len(lengths) // (batch_size * 4)))

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Any:
        import torch

        # seeded from torch's global generator, which the Trainer seeds, as RandomSampler is
        gen = torch.Generator().manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
        order = torch.randperm(len(self.lengths), generator=gen).tolist()
        batches = []
        for start in range(0, len(order), self.chunk):
            chunk = sorted(order[start : start + self.chunk], key=self.lengths.__getitem__, reverse=True)
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        short = batches.pop() if batches and len(batches[-1]) < self.batch_size else []  # a partial batch goes last
        for b in torch.randperm(len(batches), generator=gen).tolist():
            yield from batches[b]
        yield from short


def _length_grouped(trainer_class: Any) -> Any:
    class LengthGroupedTrainer(trainer_class):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            data = train_dataset if train_dataset is not None else self.train_dataset
            batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
            return LengthGroupedBatches([len(ids) for ids in data["input_ids"]], batch)

    return LengthGroupedTrainer


def _full_logits_loss(trainer_class: Any) -> Any:
    class FullLogitsLossTrainer(trainer_class):
        """SFTTrainer's loss (mean NLL of the completion tokens) from the model's full logits.

        TRL computes it through a fused LM head in chunks, which saves GPU memory but on a CPU spends
        ~60% of a small model's step in the chunk loop (the quick start's SFT: 0.51 s a step, 0.32 of
        it there). Same loss and normalisation as TRL's ``nll``; the token-accuracy and entropy logs too.
        """

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            import torch

            targets = inputs["labels"][:, 1:]
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False)
            logits = outputs.logits[:, :-1].float()
            count = (targets != -100).sum() if num_items_in_batch is None else num_items_in_batch
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum")
            loss = nll / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # as TRL: DDP averages, the count is global
            self._log_token_metrics(logits.detach(), targets)
            return (loss, outputs) if return_outputs else loss

        def _log_token_metrics(self, logits: Any, targets: Any) -> None:
            import torch

            mode = "train" if self.model.training else "eval"
            mask = targets != -100
            n = mask.sum().clamp(min=1)
            logp = torch.log_softmax(logits[mask], -1)
            self._metrics[mode]["entropy"].append((-(logp.exp() * logp).sum() / n).item())
            self._metrics[mode]["mean_token_accuracy"].append(((logits.argmax(-1) == targets) & mask).sum().item() / n.item())

    return FullLogitsLossTrainer


def save_model(model: Any, tok: Any, folder: str | Path) -> None:
    """Save a (possibly LoRA-wrapped) causal LM so ``from_pretrained(folder)`` reloads it."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
