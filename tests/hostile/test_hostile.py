"""The hostile-input catalogue (docs/reliability.md): every command, tried as a careless or
hostile user would. Each case asserts the exit code, a one-line message naming the culprit, no
traceback, and that earlier outputs are intact. Cases live in ``cases_*.py`` beside this file."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"rlit_hostile_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load("harness")
CASES = [c for f in sorted(HERE.glob("cases_*.py")) for c in _load(f.stem).CASES]


def test_catalogue_is_large_and_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 60


def _snapshot(folder: Path, names: tuple[str, ...]) -> dict[str, bytes | None]:
    return {n: (folder / n).read_bytes() if (folder / n).is_file() else None for n in names}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile(case, tmp_path, tiny_policy_dir, monkeypatch, capsys):
    from rlit.cli import main
    from rlit.plugins import PluginSettings, get_registry

    folder = tmp_path / "case"
    folder.mkdir()
    if case.setup:
        case.setup(folder, Path(tiny_policy_dir))
    before = _snapshot(folder, case.keep)
    for var in ("RLIT_PLUGINS_ALLOW", "RLIT_PLUGINS_BLOCK", "RLIT_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RLIT_CACHE_DIR", str(folder / ".cache"))
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(d=folder, model=tiny_policy_dir))
    monkeypatch.chdir(folder)
    get_registry(PluginSettings.from_env(), reload=True)
    args = [a.format(d=folder, model=tiny_policy_dir) for a in case.args]
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    out, err = capsys.readouterr()
    shown = f"exit {code}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
    assert "Traceback" not in out + err, shown
    assert code == case.code, shown
    assert any(re.search(case.message, line) for line in err.splitlines()), shown
    after = _snapshot(folder, case.keep)
    for name in case.keep:
        assert after[name] == before[name], f"{name} changed\n{shown}"
    if case.check:
        case.check(folder)
