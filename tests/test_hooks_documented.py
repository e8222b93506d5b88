"""Hooks cannot drift from their docs: every hook in rlit/hookspecs.py is documented in
docs/hooks.md with its exact signature, and has a test named test_hook_<name>."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from rlit import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    (name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "rlit_spec")),
)


def signature_text(name: str) -> str:
    """``name(param: annotation, ...) -> return`` as written in hookspecs.py."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"


def test_hooks_are_found():
    assert "register_rewards" in HOOKS and "register_prompt_sets" in HOOKS  # the finder itself works


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    doc = (REPO / "docs" / "hooks.md").read_text()
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"\n## {hook}({params})\n" in doc, f"docs/hooks.md needs a heading '## {hook}({params})'"
    assert signature_text(hook) in doc, f"docs/hooks.md must show the signature {signature_text(hook)}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    tests = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    assert re.search(rf"^def test_hook_{hook}\(", tests, re.MULTILINE), f"no test named test_hook_{hook} in tests/"


def test_documented_hooks_exist():
    doc = (REPO / "docs" / "hooks.md").read_text()
    documented = re.findall(r"^## (\w+)\(", doc, re.MULTILINE)
    assert sorted(documented) == HOOKS
