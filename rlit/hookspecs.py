"""Every hook a plugin can implement. Hooks take a ``register`` callback (llm-style), so one
plugin can register zero, one or many things and the core decides how to store them."""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("rlit")
hookimpl = pluggy.HookimplMarker("rlit")


@hookspec
def register_rewards(register: Callable[[type], None]) -> None:
    """Register reward sources: call ``register(SourceClass)`` once per ``rlit.RewardSource`` subclass."""


@hookspec
def register_prompt_sets(register: Callable[[str, Callable[[str], list[dict]]], None]) -> None:
    """Register prompt-set loaders: ``register(scheme, loader)``; a suite's ``prompts = "scheme:spec"`` calls ``loader(spec)`` for rows with a ``prompt`` key."""
