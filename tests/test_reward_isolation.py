"""Row-level isolation and the typed boundary of reward sources: rlit.Unscorable, batch halving
under on_error = "skip", option types checked before any source is built, plugin errors named,
code fingerprints in cache tags, a corrupt score cache, and `rlit score`'s resume checks."""

from __future__ import annotations

import importlib
import json
import sqlite3
import sys
from pathlib import Path

import pytest

import rlit
from rlit.errors import ConfigError, DataError, SourceError
from rlit.rewards import build as building, guard
from rlit.rewards.cache import ScoreCache
from rlit.plugins import load_reward
from rlit.rewards.scoring import score_jsonl

CALLS: list[int] = []  # batch sizes the picky source saw
BUILT: list[str] = []  # sources constructed


class Picky(rlit.RewardSource):
    """Raises for a batch holding 'boom', returns text for 'junk', Unscorable for 'skip me'."""

    name = "t-picky"

    def __init__(self, scale: float = 1.0, label=None):
        BUILT.append(self.name)
        self.scale = scale

    def score(self, prompts, completions, **columns):
        CALLS.append(len(completions))
        if any("boom" in c for c in completions):
            raise RuntimeError("found a boom")
        return ["junk" if "junk" in c else rlit.Unscorable("asked to skip\nsecond line") if "skip me" in c
                else float(len(c)) * self.scale for c in completions]


class Strict(rlit.RewardSource):
    name = "t-strict"

    def __init__(self, n: int = 1, where: Path = Path("."), pair: tuple[int, int] = (0, 1)):
        BUILT.append(self.name)
        if n > 100:
            raise ConfigError("t-strict: option 'n' is too large")
        if n < 0:
            raise ValueError("n must not be negative")
        self.n, self.where, self.pair = n, where, pair

    def score(self, prompts, completions, **columns):
        return [float(self.n)] * len(completions)


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Picky)
        register(Strict)


@pytest.fixture
def reg(temp_plugin):
    CALLS.clear()
    BUILT.clear()
    return temp_plugin(Plugin(), "isolation-test")


def build(reg, sources, **top):
    return load_reward({"sources": sources, "cache_size": 0, **top}, registry=reg)


def test_skip_halves_the_batch_so_only_failing_rows_lose_their_score(reg):
    cr = build(reg, [{"name": "t-picky", "on_error": "skip"}])
    texts = ["aa", "bbb", "boom", "c", "junk", "dddd", "ee", "f"]
    res = cr.score_batch([""] * 8, texts)
    assert res.total == pytest.approx([2, 3, float("nan"), 1, float("nan"), 4, 2, 1], nan_ok=True)
    reasons = res.unscored["t-picky"]
    assert reasons[2] == "score() raised RuntimeError: found a boom"
    assert reasons[4].startswith("score() returned 'junk' for row 0: not a number")
    assert [r for i, r in enumerate(reasons) if i not in (2, 4)] == [None] * 6
    assert res.stats["t-picky"]["unscored"] == {reasons[2]: 1, reasons[4]: 1}
    assert len(CALLS) < 2 * len(texts)  # halving, not one call per row


def test_unscorable_from_the_source_keeps_its_reason_even_under_fail_and_is_not_cached(reg, tmp_path):
    cr = load_reward({"sources": [{"name": "t-picky"}], "cache_dir": str(tmp_path)}, registry=reg)
    for _ in range(2):
        res = cr.score_batch(["", ""], ["skip me", "ok"])
        assert res.unscored["t-picky"] == ["asked to skip", None] and res.total[1] == 2.0
    assert res.stats["t-picky"]["n_cached"] == 1 and res.stats["t-picky"]["n_computed"] == 1
    with pytest.raises(SourceError, match="found a boom"):  # fail is still fail
        cr.score_batch([""], ["boom"])
    cr.close()


def test_unscorable_is_one_line_and_compares_by_reason():
    assert rlit.Unscorable("a\nb") == rlit.Unscorable("a") and rlit.Unscorable("").reason == "unscorable"


@pytest.mark.parametrize("options, message", [
    ({"scale": "abc"}, r"sources\[0\]\.options\.scale: Input should be a valid number \(got 'abc'; expected float\)"),
    ({"n": 1.5}, r"sources\[1\]\.options\.n: Input should be a valid integer \(got 1\.5; expected int\)"),
    ({"pair": [1, "x"]}, r"sources\[1\]\.options\.pair: \[1\]: Input should be a valid integer"),
])
def test_option_types_are_checked_for_every_source_before_any_is_built(reg, options, message):
    picky = {k: v for k, v in options.items() if k == "scale"}
    strict = {k: v for k, v in options.items() if k != "scale"}
    with pytest.raises(ConfigError, match=message):
        build(reg, [{"name": "t-picky", "options": picky}, {"name": "t-strict", "options": strict}])
    assert BUILT == []


def test_typed_options_are_converted_and_unannotated_ones_pass(reg):
    cr = build(reg, [{"name": "t-picky", "options": {"scale": 2, "label": [1, "x"]}},
                     {"name": "t-strict", "options": {"where": "a/b", "pair": [2, 3]}}])
    strict = cr.entries[1].source
    assert cr.entries[0].source.scale == 2.0 and isinstance(cr.entries[0].source.scale, float)
    assert strict.where == Path("a/b") and strict.pair == (2, 3)


@pytest.mark.parametrize("n, error, message", [
    (101, ConfigError, r"^reward config: sources\[0\]: t-strict: option 'n' is too large$"),
    (-1, ConfigError, r"^reward config: sources\[0\]\.options: reward source 't-strict' rejected its options: ValueError: n must not be negative$"),
])
def test_a_plugins_own_error_is_prefixed_with_the_entry_once(reg, n, error, message):
    with pytest.raises(error, match=message):
        build(reg, [{"name": "t-strict", "options": {"n": n}}])
    exc = ConfigError("reward config: sources[0]: already named")
    assert str(building._prefixed(exc, "reward config: sources[0]")) == "reward config: sources[0]: already named"


def test_code_fingerprint_changes_when_the_plugin_code_changes(tmp_path, monkeypatch):
    pkg = tmp_path / "fp_plugin_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from fp_plugin_pkg.src import Src\n")
    (pkg / "src.py").write_text("import rlit\nclass Src(rlit.RewardSource):\n    name = 'fp'\n    def score(self, p, c, **k):\n        return [1.0] * len(c)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fp_plugin_pkg")
    try:
        before = guard.code_fingerprint(module.Src)
        assert guard.code_fingerprint(module.Src) == before  # memoised, stable
        (pkg / "src.py").write_text((pkg / "src.py").read_text().replace("1.0", "2.0"))
        guard._folder_digest.cache_clear()  # a new process
        assert guard.code_fingerprint(module.Src) != before
    finally:
        for name in [m for m in sys.modules if m.startswith("fp_plugin_pkg")]:
            del sys.modules[name]


def test_cache_tag_and_fingerprints_carry_the_code(reg):
    cr = build(reg, [{"name": "t-picky"}])
    assert cr.fingerprints["t-picky"][:16] in cr.entries[0].cache_tag


def test_corrupt_cache_entries_are_misses_and_rewritten(tmp_path, caplog):
    cache = ScoreCache(0, tmp_path)
    cache.put_many({"a": 1.0})
    cache.close()
    db = sqlite3.connect(tmp_path / "scores.sqlite")
    db.execute("UPDATE scores SET value = 'garbage' WHERE key = 'a'")
    db.commit()
    db.close()
    cache = ScoreCache(0, tmp_path)
    assert cache.get_many(["a"]) == {} and "corrupt entries" in caplog.text
    cache.put_many({"a": 2.0})
    assert ScoreCache(0, tmp_path).get_many(["a"]) == {"a": 2.0}


def _rows(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": "p", "completion": t}) + "\n" for t in texts))
    return path


def test_score_output_rows_say_why_and_resume_of_a_complete_output_changes_nothing(reg, tmp_path):
    cr = build(reg, [{"name": "t-picky", "on_error": "skip"}])
    rows, out = _rows(tmp_path / "rows.jsonl", ["aa", "boom", "skip me"]), tmp_path / "out.jsonl"
    summary = score_jsonl(cr, rows, out, batch_size=8)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written[0]["unscored"] == {} and written[0]["vetoed_by"] is None
    assert written[1]["unscored"] == {"t-picky": "score() raised RuntimeError: found a boom"}
    assert summary.as_dict()["sources"]["t-picky"]["n_unscored"] == 2
    before = out.read_bytes()
    again = score_jsonl(cr, rows, out, batch_size=8, resume=True)
    assert again.skipped == 3 and again.rows == 0 and out.read_bytes() == before
    _rows(rows, ["aa", "edited", "skip me"])
    with pytest.raises(DataError, match=r"out\.jsonl:2: kept row does not match .*rows\.jsonl:2"):
        score_jsonl(cr, rows, out, resume=True)
    assert out.read_bytes() == before


def test_resume_cuts_a_torn_line_of_the_part(reg, tmp_path):
    cr = build(reg, [{"name": "t-picky"}])
    rows, out = _rows(tmp_path / "rows.jsonl", ["a", "bb", "ccc"]), tmp_path / "out.jsonl"
    score_jsonl(cr, rows, out)
    full = out.read_text().splitlines()
    out.rename(tmp_path / "out.jsonl.part")
    (tmp_path / "out.jsonl.part").write_text(full[0] + "\n" + full[1][:7])
    CALLS.clear()
    assert score_jsonl(cr, rows, out, resume=True).skipped == 1 and CALLS == [2]
    assert out.read_text().splitlines() == full and not (tmp_path / "out.jsonl.part").exists()


class Interrupts(rlit.RewardSource):
    """Scores one batch, then is 'interrupted' (Ctrl-C) on the next."""

    name = "t-interrupts"

    def score(self, prompts, completions, **columns):
        if "stop" in completions:
            raise KeyboardInterrupt
        return [1.0] * len(completions)


class InterruptPlugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Interrupts)


def test_ctrl_c_keeps_the_scored_rows_in_the_part_and_says_so(temp_plugin, tmp_path, monkeypatch, capsys):
    from rlit.cli import main

    temp_plugin(InterruptPlugin(), "interrupt-test")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.toml").write_text('[[sources]]\nname = "t-interrupts"\n')
    _rows(tmp_path / "rows.jsonl", ["a", "b", "stop", "c"])
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--config", "r.toml", "--input", "rows.jsonl", "--output", "out.jsonl", "--batch-size", "2"])
    err = capsys.readouterr().err
    assert exit_.value.code == 130 and "2 row(s) scored so far are kept in out.jsonl.part; rerun the same command with --resume" in err
    assert not (tmp_path / "out.jsonl").exists() and len((tmp_path / "out.jsonl.part").read_text().splitlines()) == 2
