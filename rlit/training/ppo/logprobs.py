"""Log-probabilities of the sampled tokens, computed from the last hidden states through the LM head.

PPO needs, for every response token, log p(token) under the tempered softmax over the whole
vocabulary (and, once per step, the entropy). With a small model and a large vocabulary (GPT-2:
50,257 tokens) the LM head and that softmax are most of a step. The plain route (logits, divide by
the temperature, cross-entropy, then all of it again backwards) makes about ten passes over a
[tokens, vocabulary] float32 tensor. :func:`chosen_logprobs` makes one: the LM head's matmul writes
into a buffer that is turned in place, a cache-sized chunk of rows at a time, into the softmax the
backward needs, and the backward turns that same buffer in place into the logits' gradient. The
temperature is folded into the [tokens, hidden] input instead of the [tokens, vocabulary] output.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

# Rows of the [tokens, vocabulary] buffer normalised at once: 64 x 50,257 floats (13 MB) stay in
# cache between the matmul and the softmax passes; measured fastest of 32/64/128 on CPU.
CHUNK_ROWS = 64

# Config fields of models whose forward changes the logits after the LM head: those keep the
# model's own forward (see :func:`split_lm_head`).
_LOGIT_MODIFIERS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


class _SoftmaxBuffer:
    """The one reusable CPU buffer for the saved softmax.

    A fresh 100 MB tensor costs ~40 ms of page faults per call on CPU (the allocator hands large
    blocks back to the OS); CUDA's caching allocator already reuses memory, so only CPU uses this.
    A forward borrows the buffer until its backward has run or its graph is freed; a second forward
    in the meantime gets a fresh tensor.
    """

    def __init__(self) -> None:
        self.tensor: torch.Tensor | None = None
        self.owner: Any = None  # weakref to the autograd context holding the buffer

    def borrow(self, rows: int, cols: int, ctx: Any) -> torch.Tensor:
        if self.owner is not None and self.owner() is not None:
            return torch.empty(rows, cols)
        if self.tensor is None or self.tensor.numel() < rows * cols:
            self.tensor = torch.empty(rows * cols)
        self.owner = weakref.ref(ctx)
        return self.tensor[: rows * cols].view(rows, cols)

    def give_back(self, ctx: Any) -> None:
        if self.owner is not None and self.owner() is ctx:
            self.owner = None


_CPU_BUFFER = _SoftmaxBuffer()


def _logits_into(out: torch.Tensor, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """out[...] = hidden @ weight.T + bias, in float32."""
    if hidden.dtype == torch.float32 and weight.dtype == torch.float32:
        if bias is None:
            torch.mm(hidden, weight.t(), out=out)
        else:
            torch.addmm(bias.float(), hidden, weight.t(), out=out)
    else:
        out.copy_(nn.functional.linear(hidden, weight, bias))


class _ChosenLogProbs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, temperature, with_entropy):  # type: ignore[override]
        scaled = hidden / temperature
        scaled_bias = None if bias is None else bias / temperature
        rows, vocab = hidden.shape[0], weight.shape[0]
        keep = any(ctx.needs_input_grad[:3])
        if keep and hidden.device.type == "cpu":
            probs = _CPU_BUFFER.borrow(rows, vocab, ctx)
        else:
            probs = torch.empty((rows if keep else min(rows, CHUNK_ROWS), vocab), device=hidden.device)
        logp = torch.empty(rows, device=hidden.device)
        ent = torch.empty(rows if with_entropy else 0, device=hidden.device)
        for start in range(0, rows, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, rows)
            z = probs[start:stop] if keep else probs[: stop - start]
            _logits_into(z, scaled[start:stop], weight, scaled_bias)
            top = z.amax(-1, keepdim=True)
            chosen = z.gather(-1, targets[start:stop, None])
            z.sub_(top)
            if with_entropy:
                e = z.exp()
                dot = (e * z).sum(-1)
                z.copy_(e)
            else:
                z.exp_()
            total = z.sum(-1, keepdim=True)
            log_total = total.log()
            logp[start:stop] = (chosen - top - log_total).squeeze(-1)
            if with_entropy:  # -sum p log p with p = e / total, log p = (z - top) - log total
                ent[start:stop] = log_total.squeeze(-1) - dot / total.squeeze(-1)
            if keep:
                z.div_(total)
        if keep:
            ctx.save_for_backward(scaled, weight, targets, probs)
            ctx.temperature = temperature
            ctx.has_bias = bias is not None
            ctx.used = False
        ctx.mark_non_differentiable(ent)
        return logp, ent

    @staticmethod
    def backward(ctx, grad_logp, _grad_ent):  # type: ignore[override]
        if ctx.used:
            raise RuntimeError("chosen_logprobs: backward ran twice through one forward (its buffer is reused in place)")
        ctx.used = True
        scaled, weight, targets, probs = ctx.saved_tensors
        g = grad_logp.float()
        # d logp / d z = onehot(target) - softmax(z): the gradient overwrites the saved softmax
        grad_z = probs.mul_(-g[:, None])
        grad_z.scatter_add_(-1, targets[:, None], g[:, None])
        gz = grad_z.to(weight.dtype)
        grad_hidden = (gz @ weight).div_(ctx.temperature).to(scaled.dtype) if ctx.needs_input_grad[0] else None
        grad_weight = (gz.t() @ scaled.to(weight.dtype)) if ctx.needs_input_grad[1] else None
        grad_bias = (grad_z.sum(0) / ctx.temperature).to(weight.dtype) if ctx.has_bias and ctx.needs_input_grad[2] else None
        _CPU_BUFFER.give_back(ctx)
        return grad_hidden, grad_weight, grad_bias, None, None, None


def chosen_logprobs(
    hidden: torch.Tensor, head: nn.Linear, targets: torch.Tensor, temperature: float, with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(log p(target), entropy or None) per row, in float32, under softmax(head(hidden) / temperature).

    ``hidden`` is [N, d] and ``targets`` [N]; the entropy is computed without gradient.
    """
    logp, ent = _ChosenLogProbs.apply(hidden, head.weight, head.bias, targets, float(temperature), with_entropy)
    return logp, (ent if with_entropy else None)


def split_lm_head(model: Any) -> tuple[nn.Module, nn.Linear] | None:
    """(backbone, LM head) of a plain transformers causal LM or a peft model around one, else None.

    None (use the model's own forward) for anything whose logits are not just ``head(backbone(x))``
    with the head's weight at hand: a DDP/FSDP/DeepSpeed wrapper (its forward does the gradient
    bookkeeping), sharded or ZeRO-3-partitioned weights, a LoRA-adapted or otherwise replaced head,
    or a model that scales or caps its logits.
    """
    from transformers import PreTrainedModel

    base = model
    if not isinstance(model, PreTrainedModel):
        try:
            from peft import PeftModel
        except ImportError:
            return None
        if not isinstance(model, PeftModel):
            return None
        base = model.get_base_model()
    head = base.get_output_embeddings()
    backbone = getattr(base, base.base_model_prefix, None)
    if type(head) is not nn.Linear or backbone is None:
        return None
    if type(head.weight.data) is not torch.Tensor or hasattr(head.weight, "ds_id"):
        return None
    if any(getattr(base.config, key, None) not in (None, 1, 1.0) for key in _LOGIT_MODIFIERS):
        return None
    return backbone, head
