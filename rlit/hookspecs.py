"""Every hook a plugin can implement (documented in docs/hooks.md; a test keeps the two in step).

Hooks take a ``register`` callback (llm-style), so one plugin can register zero, one or many
things and the core decides how to store them (and detects duplicates, naming both plugins).
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("rlit")
hookimpl = pluggy.HookimplMarker("rlit")


@hookspec
def register_rewards(register: Callable[[type], None]) -> None:
    """Register reward sources: call ``register(SourceClass)`` once per ``rlit.RewardSource`` subclass."""


@hookspec
def register_prompt_sets(register: Callable[[str, Callable[[str], list[dict]]], None]) -> None:
    """Register prompt-set loaders: ``register(scheme, loader)``; a suite's ``prompts = "scheme:spec"`` calls ``loader(spec)`` for rows with a ``prompt`` key."""


@hookspec
def register_model_evaluators(register: Callable[[str, Any], None]) -> None:
    """Register evaluators of the model itself (not of its completions): ``register(name, evaluator)``; a suite eval's ``lm_eval`` table runs through the one named ``lm-eval``."""
