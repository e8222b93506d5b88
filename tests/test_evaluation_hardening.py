"""The mechanisms behind trustworthy verdicts: limit selection, typed results files, damaged
caches, escaped summaries, code in task YAMLs, interrupted runs, early option checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlit.errors import ConfigError, DataError
from rlit.lm.cache import JsonlCache
from rlit.evaluation.lm_eval_tasks import check_task_code, trusting_code
from rlit.evaluation.report.markdown import md
from rlit.evaluation.results import SuiteResults
from rlit.evaluation.selection import select_rows

ROWS = ([{"key": f"i{i}", "category": "insult", "group": None} for i in range(10)]
        + [{"key": f"s{i}", "category": "stereo", "group": f"g{i // 3}"} for i in range(9)]
        + [{"key": f"h{i}", "category": "harass", "group": None} for i in range(4)])

SUITE = """
name = "t"
bootstrap = 100
[generation]
max_new_tokens = 2
[[evals]]
name = "a"
prompts = "p.jsonl"
metric = { source = "length", options = { min = 1, max = 40 } }
[[evals]]
name = "b"
prompts = "p.jsonl"
metric = { source = "length", options = { min = 1, max = 40 } }
"""


# -- limit selection ----------------------------------------------------------------------------

def test_limit_takes_whole_groups_round_robin_over_categories():
    rows, how = select_rows(ROWS, 8, group="group", by="category")
    keys = [r["key"] for r in rows]
    assert {r["category"] for r in rows} == {"insult", "stereo", "harass"}
    groups = [r["group"] for r in rows if r["group"]]
    assert all(groups.count(g) == 3 for g in groups)  # no group is cut
    assert keys == [r["key"] for r in ROWS if r["key"] in keys]  # file order kept
    assert how["n"] == len(rows) <= 8 and how["keys"] == keys and "round-robin" in how["method"]
    assert select_rows(ROWS, 8, group="group", by="category") == (rows, how)  # deterministic


def test_group_gap_limit_keeps_only_groups_and_no_limit_keeps_everything():
    rows, how = select_rows(ROWS, 6, group="group", by="category", groups_only=True)
    assert [r["group"] for r in rows] == ["g0"] * 3 + ["g1"] * 3 and "two or more" in how["method"]
    assert select_rows(ROWS, None, "group", "category") == (ROWS, None)
    assert select_rows(ROWS, 100, "group", "category") == (ROWS, None)
    plain, _ = select_rows(ROWS, 3)  # no group, no category: the first N rows, as before
    assert [r["key"] for r in plain] == ["i0", "i1", "i2"]


def test_a_group_bigger_than_the_limit_still_gives_rows():
    rows, _ = select_rows(ROWS[10:19], 2, group="group", groups_only=True)
    assert [r["key"] for r in rows] == ["s0", "s1"]


# -- caches -------------------------------------------------------------------------------------

def test_damaged_cache_lines_are_skipped_and_the_file_rewritten(tmp_path, caplog):
    cache = JsonlCache(tmp_path, "generations", {"m": 1}, valid=lambda v: isinstance(v, str))
    cache.put_many({"a": "text", "b": "more"})
    with cache.path.open("ab") as f:
        f.write(b'\xff\xfe\n[1]\n{"k": 1, "v": "x"}\n{"k": "c", "v": 3}\n{"k": "d", "v": "ok"}\n{"k": "e"')
    again = JsonlCache(tmp_path, "generations", {"m": 1}, valid=lambda v: isinstance(v, str))
    assert again.data == {"a": "text", "b": "more", "d": "ok"} and again.stored == 0
    assert "skipped 5 damaged line(s)" in caplog.text
    lines = again.path.read_text().splitlines()
    assert [json.loads(x)["k"] for x in lines] == ["a", "b", "d"]


# -- results files ------------------------------------------------------------------------------

def _ok(name="a"):
    return {"name": name, "status": "ok", "value": 0.5, "stat": "mean", "higher_is_better": True,
            "units": [{"key": "r1", "value": 0.5, "weight": 1.0, "category": None}]}


@pytest.mark.parametrize("doc, message", [
    ([], "not an rlit results file"),
    ({"format": "rlit-results/1"}, "evals: Field required"),
    ({"format": "rlit-results/1", "evals": [{k: v for k, v in _ok().items() if k != "units"}]}, "evals[0] ('a'): missing key(s) units"),
    ({"format": "rlit-results/1", "evals": [{**_ok(), "units": [{"key": "r", "value": "0.5"}]}]}, "evals[0] ('a').units[0].value"),
    ({"format": "rlit-results/1", "evals": [{**_ok(), "units": [{"key": 3, "value": 0.5}]}]}, "evals[0] ('a').units[0].key"),
    ({"format": "rlit-results/1", "evals": [_ok(), _ok()]}, "'a' appear more than once"),
    ({"format": "rlit-results/1", "evals": [], "surprise": 1}, "surprise: Extra inputs"),
    ({"format": "rlit-results/1", "evals": [{**_ok(), "breakdown": {"x": {"value": "hi", "n": 1}}}]}, "breakdown.x.value"),
])
def test_results_files_of_the_wrong_shape_name_file_and_key(tmp_path, doc, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError) as exc:
        SuiteResults.load(path)
    assert str(path) in str(exc.value) and message in str(exc.value) and "\n" not in str(exc.value)


def test_results_file_round_trip(tmp_path):
    res = SuiteResults(suite={"name": "t"}, manifest={"x": 1}, evals={"a": _ok()}, verdict="pass")
    res.save(tmp_path / "r.json")
    back = SuiteResults.load(tmp_path / "r.json")
    assert back.evals == res.evals and back.verdict == "pass"
    (tmp_path / "bad.json").write_bytes(b'{"format": "\xff"}')
    with pytest.raises(DataError, match="not UTF-8"):
        SuiteResults.load(tmp_path / "bad.json")


# -- reports ------------------------------------------------------------------------------------

def test_markdown_escaping_makes_names_inert():
    out = md("a|b <img src=x> *x* _y_ [l](u) `c`\nnext")
    assert out == "a\\|b &lt;img src=x&gt; \\*x\\* \\_y\\_ \\[l\\](u) \\`c\\` next"


def test_summary_and_html_escape_names_and_errors():
    from rlit.evaluation.report import render_html, render_summary

    res = SuiteResults(suite={"name": "s | <b>x</b>"}, manifest={"model": {"name": "m`<i>", "sha256": "<x>"}},
                       evals={"a": {"name": "a", "status": "error", "error": "<script>alert(1)</script>\n| boom",
                                    "gate": {"status": "error", "checks": [{"check": "evaluate", "passed": False,
                                                                            "message": "<script>alert(1)</script>\n| boom"}]}}},
                       verdict="error")
    summary = render_summary(res)
    assert "<script>" not in summary and "<b>" not in summary and "<i>" not in summary
    assert all(line.count("|") - line.count("\\|") in (0, 7) for line in summary.splitlines())
    page = render_html(res)
    assert "<script>" not in page and "&lt;x&gt;" in page


# -- code in task YAMLs -------------------------------------------------------------------------

def test_function_tags_need_trust(tmp_path):
    (tmp_path / "t.yaml").write_text("task: t\ninclude: base.yaml\n")
    (tmp_path / "base.yaml").write_text("# !function in a comment is fine\nx: 1\nprocess_results: !function utils.process\n")
    with pytest.raises(ConfigError, match=r"base\.yaml:3: .*!function utils\.process"):
        check_task_code(tmp_path / "t.yaml")
    check_task_code(tmp_path / "t.yaml", trust=True)
    with trusting_code():
        check_task_code(tmp_path / "t.yaml")
    with pytest.raises(ConfigError):
        check_task_code(tmp_path / "t.yaml")  # the opt-in ends with the block


def test_installed_lm_eval_functions_are_allowed_unless_shadowed(tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "evals" / "lm_eval" / "rlit_ifeval.yaml"
    check_task_code(shipped)
    (tmp_path / "t.yaml").write_text("task: t\nprocess_results: !function lm_eval.tasks.ifeval.utils.process_results\n")
    check_task_code(tmp_path / "t.yaml")
    (tmp_path / "lm_eval" / "tasks" / "ifeval").mkdir(parents=True)
    (tmp_path / "lm_eval" / "tasks" / "ifeval" / "utils.py").write_text("")
    with pytest.raises(ConfigError, match="t.yaml:2"):
        check_task_code(tmp_path / "t.yaml")


def test_suite_and_eval_trust_code_keys(tmp_path):
    from rlit.evaluation import load_suite

    (tmp_path / "s.toml").write_text('name = "s"\ntrust_code = true\n[[evals]]\nname = "t"\nlm_eval = { task = "t.yaml" }\n')
    assert load_suite(tmp_path / "s.toml").evals[0].lm_eval.trust_code is True
    (tmp_path / "s.toml").write_text('name = "s"\n[[evals]]\nname = "t"\nlm_eval = { task = "t.yaml" }\n')
    assert load_suite(tmp_path / "s.toml").evals[0].lm_eval.trust_code is False


# -- suites, options, interrupts ----------------------------------------------------------------

@pytest.mark.parametrize("top, gen, key", [
    ("", "temperature = nan", "temperature"),
    ("", "top_p = inf", "top_p"),
    ("confidence = nan", "", "confidence"),
])
def test_nan_and_inf_are_rejected_in_suites(tmp_path, top, gen, key):
    from rlit.evaluation import load_suite

    (tmp_path / "s.toml").write_text(f'name = "s"\n{top}\n[generation]\n{gen}\n'
                                     '[[evals]]\nname = "a"\nprompts = "p.jsonl"\nmetric = { source = "x" }\n')
    with pytest.raises(ConfigError, match=key):
        load_suite(tmp_path / "s.toml")


def test_bad_limits_and_empty_suites_fail_before_any_work(tmp_path):
    from rlit.evaluation import evaluate

    (tmp_path / "p.jsonl").write_text('{"prompt": "hi"}\n')
    (tmp_path / "s.toml").write_text(SUITE)
    for kwargs, message in (({"limit": 0}, "--limit"), ({"max_new_tokens": -1}, "--max-new-tokens")):
        with pytest.raises(ConfigError, match=message):
            evaluate(tmp_path / "s.toml", "no-model-needed", cache_dir=None, progress=False, **kwargs)
    (tmp_path / "e.toml").write_text('name = "e"\n')
    with pytest.raises(ConfigError, match="no evals"):
        evaluate(tmp_path / "e.toml", "x", cache_dir=None, progress=False)
    with pytest.raises(ConfigError, match="--device 'banana'"):
        evaluate(tmp_path / "s.toml", "x", device="banana", cache_dir=None, progress=False)


def test_an_interrupted_run_keeps_finished_evals_without_a_verdict(tmp_path, registry, tiny_policy_dir, monkeypatch):
    import rlit.evaluation.runner as runner
    from rlit.evaluation import evaluate

    if "length" not in registry.sources:
        pytest.skip("rlit-rules is not installed")
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi"}\n{"prompt": "there"}\n')
    (tmp_path / "s.toml").write_text(SUITE)
    real = runner._run_one
    calls = []

    def run_one(spec, *a, **k):
        calls.append(spec.name)
        if spec.name == "b":
            raise KeyboardInterrupt
        return real(spec, *a, **k)

    monkeypatch.setattr(runner, "_run_one", run_one)
    with pytest.raises(KeyboardInterrupt):
        evaluate(tmp_path / "s.toml", str(tiny_policy_dir), out_dir=tmp_path / "o", cache_dir=tmp_path / "c", progress=False)
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["verdict"] == "interrupted" and [e["name"] for e in res["evals"]] == ["a"]
    assert "gate" not in res["evals"][0] and res["evals"][0]["status"] == "ok"
    assert "interrupted" in (tmp_path / "o" / "summary.md").read_text()
    assert "<error" in (tmp_path / "o" / "junit.xml").read_text()


def test_score_cache_key_follows_the_sources_cache_tag(registry):
    from rlit.evaluation.metrics import Scorer
    from rlit.evaluation.suite import MetricSpec

    if "length" not in registry.sources:
        pytest.skip("rlit-rules is not installed")
    # One score cache, the composite's: its per-row key carries the source's cache tag.
    scorer = Scorer(MetricSpec(source="length", options={"min": 1}), origin="s.toml: evals ('a').metric")
    assert scorer.score(["p"], ["abc"], {}).computed == 1
    assert scorer.score(["p"], ["abc"], {}).cached == 1
    scorer.composite.entries[0].cache_tag += "|edited"
    assert scorer.score(["p"], ["abc"], {}).computed == 1
    with pytest.raises(ConfigError, match=r"s\.toml: evals \('a'\)\.metric: sources\[0\]\.options\.mn"):
        Scorer(MetricSpec(source="length", options={"mn": 1}), origin="s.toml: evals ('a').metric")
