"""Settings shared by the stages that run on TRL trainers (SFT, reward model, GRPO, RLOO)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from rlit.configfile import AT_LEAST_1, ConfigModel


class LoraOptions(ConfigModel):
    """LoRA adapters (peft) instead of full fine-tuning."""

    r: Annotated[int, AT_LEAST_1] = Field(8, description="Adapter rank.")
    alpha: Annotated[int, AT_LEAST_1] = Field(16, description="Scaling numerator (lora_alpha).")
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Dropout on the adapter input.")
    target_modules: list[str] | None = Field(None, description="Module names to adapt; default: peft's choice for the architecture.")


def apply_lora(model: Any, lora: LoraOptions | None) -> Any:
    """Wrap ``model`` with LoRA adapters when ``lora`` is set; otherwise return it unchanged."""
    if lora is None:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def resolve_device(device: str) -> str:
    """``auto`` becomes cuda when a GPU is visible, else cpu."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def trl_device_kwargs(device: str) -> dict[str, Any]:
    """TRL configs default to bf16 and gradient checkpointing, which break or slow CPU runs."""
    on_cpu = resolve_device(device) == "cpu"
    return {"use_cpu": on_cpu, "bf16": not on_cpu and _bf16_ok(), "activation_checkpointing": False}


def _bf16_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
