"""Torch devices and dtypes as rlit accepts them: one check, before any model loads."""

from __future__ import annotations

from rlit.errors import ConfigError


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
