"""End-to-end: rlit evaluate / gate / compare on the tiny GPT-2 with temporary reward sources."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from xml.etree import ElementTree as ET

import pytest

import rlit
from rlit.evaluation import SuiteResults, evaluate

ROWS = [
    {"key": "a1", "prompt": "Say hello to the team.", "category": "greeting", "group": "g1"},
    {"key": "a2", "prompt": "Say hello to the teacher.", "category": "greeting", "group": "g1"},
    {"key": "b1", "prompt": "Write two lines about rivers.", "category": "poem", "group": "g2"},
    {"key": "b2", "prompt": "Write two lines about mountains.", "category": "poem", "group": "g2"},
    {"key": "c1", "prompt": "List three colours.", "category": "list", "group": "g3"},
    {"key": "c2", "prompt": "List three fruits.", "category": "list", "group": "g3"},
]


class Letters(rlit.RewardSource):
    name = "test-letters"
    description = "share of alphabetic characters"

    def score(self, prompts, completions, **columns):
        return [sum(ch.isalpha() for ch in c) / len(c) if c else None for c in completions]


class Broken(rlit.RewardSource):
    name = "test-broken"

    def score(self, prompts, completions, **columns):
        raise RuntimeError("classifier exploded")


class TestPlugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Letters)
        register(Broken)


def write_suite(tmp_path, body: str, rows=ROWS, name="suite.toml"):
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


SUITE = """
name = "test"
bootstrap = 200
[generation]
max_new_tokens = 6
batch_size = 4
[[evals]]
name = "letters"
prompts = "prompts.jsonl"
metric = {{ source = "test-letters" }}
aggregate = {{ method = "mean", by = "category" }}
gate = {{ min = {min}, max_regression = 0.0 }}
[[evals]]
name = "letters-gap"
prompts = "prompts.jsonl"
metric = {{ source = "test-letters" }}
aggregate = {{ method = "group_gap" }}
gate = {{ max = 1.0 }}
"""


@pytest.fixture
def plugin(temp_plugin):
    return temp_plugin(TestPlugin(), "test-eval-plugin")


@pytest.fixture
def cli(monkeypatch, plugin, rlit_main):
    """Run `rlit ...` in-process against the registry holding the temporary plugin; returns the exit code."""
    import importlib

    app_module = importlib.import_module("rlit.cli.app")  # rlit.cli re-exports `app`, shadowing the module
    monkeypatch.setattr(app_module, "get_registry", lambda *a, **k: plugin)
    return rlit_main


def test_pass_writes_all_reports_and_second_run_uses_cache(tmp_path, cli, tiny_policy_dir, monkeypatch, capsys):
    suite = write_suite(tmp_path, SUITE.format(min=0.0))
    cache = tmp_path / "cache"
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "a", "--cache-dir", cache) == 0
    for f in ("results.json", "summary.md", "junit.xml", "report.html"):
        assert (tmp_path / "a" / f).stat().st_size > 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["verdict"] == "pass"
    letters = res["evals"][0]
    assert letters["n_units"] == 6 and letters["ci"][0] <= letters["value"] <= letters["ci"][1]
    assert set(letters["breakdown"]) == {"greeting", "poem", "list"}
    assert letters["generation"]["prompt_format"] == "raw"  # GPT-2 has no chat template
    assert res["manifest"]["model"]["sha256"] and res["manifest"]["suite"]["sha256"]
    assert res["manifest"]["plugins"]["test-eval-plugin"] == {"distribution": None, "version": None}
    assert letters["prompts"]["sha256"]

    import rlit.lm.generation as generation

    calls = []
    real = generation._generate_batch
    monkeypatch.setattr(generation, "_generate_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "b", "--cache-dir", cache) == 0
    assert calls == []  # unchanged model, prompts and settings: nothing regenerated
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert again["evals"][0]["units"] == letters["units"]
    # A changed setting is a different cache key: it generates again.
    suite.write_text(suite.read_text().replace("max_new_tokens = 6", "max_new_tokens = 5"))
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "c", "--cache-dir", cache) == 0
    assert calls


def test_failed_gate_exits_1_with_junit_failure(tmp_path, cli, tiny_policy_dir, capsys):
    suite = write_suite(tmp_path, SUITE.format(min=2.0))
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "o", "--no-cache") == 1
    assert "release gate failed: letters" in capsys.readouterr().err
    junit = ET.parse(tmp_path / "o" / "junit.xml").getroot()
    cases = {c.get("name"): c for c in junit.iter("testcase")}
    assert cases["letters"].find("failure") is not None and cases["letters-gap"].find("failure") is None
    assert "❌ fail" in (tmp_path / "o" / "summary.md").read_text()


def test_missing_data_exits_2_and_keeps_computed_results(tmp_path, cli, tiny_policy_dir, capsys):
    body = SUITE.format(min=0.0) + '\n[[evals]]\nname = "gone"\nprompts = "missing.jsonl"\nmetric = { source = "test-letters" }\n'
    suite = write_suite(tmp_path, body)
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "o", "--no-cache") == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "Traceback" not in err
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    by_name = {e["name"]: e for e in res["evals"]}
    assert by_name["letters"]["status"] == "ok" and by_name["letters"]["value"] is not None
    assert by_name["gone"]["status"] == "error" and res["verdict"] == "error"


def test_broken_source_exits_2_naming_it(tmp_path, cli, tiny_policy_dir, capsys):
    body = SUITE.format(min=0.0).replace('source = "test-letters" }}\naggregate = {{ method = "group_gap"', "X")
    body = SUITE.format(min=0.0).replace('name = "letters-gap"\nprompts = "prompts.jsonl"\nmetric = { source = "test-letters" }',
                                         'name = "letters-gap"\nprompts = "prompts.jsonl"\nmetric = { source = "test-broken" }')
    suite = write_suite(tmp_path, body)
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "o", "--no-cache") == 2
    err = capsys.readouterr().err
    assert "test-broken" in err and "classifier exploded" in err
    assert json.loads((tmp_path / "o" / "results.json").read_text())["evals"][0]["status"] == "ok"


def test_malformed_suite_exits_2_naming_file_and_key(tmp_path, cli, tiny_policy_dir, capsys):
    suite = write_suite(tmp_path, SUITE.format(min=0.0).replace("max_regression", "max_regresion"))
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "suite.toml" in err and "evals[0] ('letters').gate.max_regresion" in err
    assert len(err.strip().splitlines()) <= 2


def test_baseline_comparison_and_regate(tmp_path, cli, tiny_policy_dir, capsys):
    suite = write_suite(tmp_path, SUITE.format(min=0.0))
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "base", "--no-cache") == 0
    base_file = tmp_path / "base" / "results.json"
    # Same model against its own baseline: zero difference on every shared prompt, gate passes.
    assert cli("evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", tmp_path / "cur",
               "--baseline", base_file, "--no-cache") == 0
    cur = json.loads((tmp_path / "cur" / "results.json").read_text())
    cmp = cur["evals"][0]["comparison"]
    assert cmp["n_pairs"] == 6 and cmp["diff"] == 0.0 and cur["baseline"] == str(base_file)
    # A stored run whose every prompt got worse is a regression: `rlit gate` exits 1 without generating.
    worse = json.loads(base_file.read_text())
    for u in worse["evals"][0]["units"]:
        u["value"] -= 0.3
    worse_file = tmp_path / "worse.json"
    worse_file.write_text(json.dumps(worse))
    assert cli("gate", worse_file, "--suite", suite, "--baseline", base_file, "--out", tmp_path / "regated") == 1
    regated = json.loads((tmp_path / "regated" / "results.json").read_text())
    assert regated["evals"][0]["comparison"]["diff"] == pytest.approx(-0.3)
    assert "max_regression" in (tmp_path / "regated" / "summary.md").read_text()
    assert cli("gate", base_file, "--suite", suite, "--baseline", base_file) == 0
    capsys.readouterr()
    assert cli("compare", worse_file, base_file) == 0
    assert "-0.3000" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"format": "something-else"}', "not an rlit results file"),
    ('{"format": "rlit-results/1", "evals": [{"name": "letters", "status": "ok"}]}', "missing key(s) value"),
])
def test_malformed_results_file_exits_2(tmp_path, cli, content, message, capsys):
    suite = write_suite(tmp_path, SUITE.format(min=0.0))
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert cli("gate", bad, "--suite", suite) == 2
    assert message in capsys.readouterr().err


def test_python_api_with_in_memory_model(tmp_path, plugin, tiny_policy_dir):
    from rlit.lm.loading import load_causal_lm

    model, tok = load_causal_lm(str(tiny_policy_dir))
    suite = write_suite(tmp_path, SUITE.format(min=0.0))
    model.train()
    res = evaluate(suite, model=model, tokenizer=tok, limit=4, cache_dir=None, progress=False)
    assert model.training and tok.padding_side == "right"  # the caller's model and tokenizer are left as they were
    assert isinstance(res, SuiteResults) and res.verdict == "pass"
    assert res.evals["letters"].n_units == 4 and 0.0 <= res.values["letters"] <= 1.0
    res.raise_for_verdict()
    gated = evaluate(suite, model=model, tokenizer=tok, limit=4, cache_dir=None, progress=False, baseline=res)
    assert gated.evals["letters"].comparison.diff == 0.0 and gated.baseline == "in-memory results"


def test_sampling_with_seed_is_reproducible(tmp_path, plugin, tiny_policy_dir):
    body = SUITE.format(min=0.0).replace("batch_size = 4", "batch_size = 4\ndo_sample = true\nseed = 3\nsamples = 2")
    suite = write_suite(tmp_path, body)
    a = evaluate(suite, str(tiny_policy_dir), cache_dir=None, progress=False, limit=2)
    b = evaluate(suite, str(tiny_policy_dir), cache_dir=None, progress=False, limit=2)
    comps = a.evals["letters"].completions
    assert all(len(c["completions"]) == 2 for c in comps)
    assert comps == b.evals["letters"].completions


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path, plugin, tiny_policy_dir):
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if shutil.os.path.exists("/usr/bin/chromium") else None)
    if chromium is None:
        pytest.skip("Debian chromium not installed (apt-get install -y chromium)")
    import subprocess

    suite = write_suite(tmp_path, SUITE.format(min=0.0))
    base = evaluate(suite, str(tiny_policy_dir), cache_dir=None, progress=False, out_dir=tmp_path / "base")
    evaluate(suite, str(tiny_policy_dir), cache_dir=None, progress=False, out_dir=tmp_path / "o", baseline=base)
    page = tmp_path / "o" / "report.html"
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # self-contained
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(cmd + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'id="verdict"' in dom and "PASS" in dom
    assert dom.count("<img") >= 3 and "data:image/png;base64," in dom  # scores, deltas, breakdown plots
    # The images decode: chromium reports each one's natural size through the DOM.
    shot = tmp_path / "shot.png"
    subprocess.run(cmd + [f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 10_000
