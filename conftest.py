"""Fixtures shared by tests/ and every plugins/*/tests (pytest loads this root conftest for both)."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    """A 2-layer random GPT-2 causal LM with the real GPT-2 tokenizer, saved to a folder."""
    from rlit.lm.builtin import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-policy"), kind="causal-lm")


@pytest.fixture(scope="session")
def tiny_reward_dir(tmp_path_factory):
    """A 2-layer random GPT-2 sequence classifier (one label) with the GPT-2 tokenizer."""
    from rlit.lm.builtin import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-reward"), kind="reward")


@pytest.fixture
def registry():
    """A fresh plugin registry with every installed entry point loaded."""
    from rlit.plugins import PluginSettings, get_registry

    return get_registry(PluginSettings.from_env(), reload=True)


@pytest.fixture
def temp_plugin(registry):
    """Register a plugin object for one test and always unregister it: ``temp_plugin(obj, "name")``."""
    added = []

    def add(plugin, name="temp-plugin"):
        registry.add_plugin(plugin, name, distribution=None, version=None)
        added.append(name)
        return registry

    yield add
    for name in added:
        registry.remove_plugin(name)


@pytest.fixture
def rlit_main(monkeypatch):
    """Run ``rlit ARGS...`` in-process through the CLI's one exit path; returns the exit code."""
    from rlit.cli.app import main

    def run(*args) -> int:
        monkeypatch.setattr(sys, "argv", ["rlit", *map(str, args)])
        try:
            main()
        except SystemExit as exc:
            return exc.code
        return 0

    return run
