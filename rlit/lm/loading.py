"""Loading causal LMs and tokenizers: local folders, hub ids, and the built-ins (rlit.lm.builtin).

A missing folder, a truncated weights file or an unreachable hub id is a ConfigError naming the
model, never a transformers traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlit.devices import check_device, resolve_dtype
from rlit.errors import ConfigError
from rlit.lm.builtin import SMOLLM2, TINY_GPT2, gpt2_tokenizer, smollm2_saved_copy, tiny_gpt2_saved_copy


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
