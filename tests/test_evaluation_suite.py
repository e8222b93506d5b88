"""Suite files: the shipped suites load, includes and gate overrides work, bad files fail clearly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rlit.errors import ConfigError, DataError
from rlit.evaluation import load_suite
from rlit.evaluation.prompts import load_prompt_set

EVALS = Path(__file__).resolve().parents[1] / "evals"


@pytest.mark.parametrize("name", ["instruction-following", "safety", "release", "validation"])
def test_shipped_suites_validate(name):
    suite = load_suite(EVALS / f"{name}.toml")
    assert suite.evals and suite.sha256
    for e in suite.evals:
        if e.prompts:
            assert (Path(e.base_dir) / e.prompts).is_file() or ":" in e.prompts


def test_release_combines_both_suites_with_thresholds():
    release = load_suite(EVALS / "release.toml")
    names = {e.name for e in release.evals}
    assert {"ifeval-prompt-strict", "ifeval-inst-strict", "toxicity-rate", "toxicity-max",
            "counterfactual-gap", "stereotype-bias", "reference-fluency"} <= names
    assert release.eval("ifeval-prompt-strict").gate.min > 0
    assert release.eval("toxicity-rate").gate.max is not None
    # The included file keeps its own (looser) gates.
    assert load_suite(EVALS / "instruction-following.toml").eval("ifeval-prompt-strict").gate.min is None


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


OK_EVAL = '[[evals]]\nname = "a"\nprompts = "p.jsonl"\nmetric = { source = "x" }\n'


@pytest.mark.parametrize("text, expected", [
    ('name = "s"\n[[evals]\n', "invalid TOML"),
    ('name = "s"\n' + OK_EVAL.replace('name = "a"', 'name = "a"\nlimt = 3'), "evals[0] ('a').limt: Extra inputs"),
    ('name = "s"\n' + OK_EVAL + 'aggregate = { method = "rate_above" }\n', "evals[0] ('a').aggregate"),
    ('name = "s"\n' + OK_EVAL + 'aggregate = { method = "median" }\n', "evals[0] ('a').aggregate.method"),
    ('name = "s"\n' + OK_EVAL + OK_EVAL, "duplicate eval name(s) 'a'"),
    ('name = "s"\n[[evals]]\nname = "a"\nmetric = { source = "x" }\n', "needs 'prompts'"),
    ('name = "s"\n[[evals]]\nname = "a"\nprompts = "p.jsonl"\nmetric = { source = "x", reward = "r.toml" }\n', "exactly one of"),
    ('name = "s"\n' + OK_EVAL + '[gates.b]\nmin = 1\n', "gates.b: no eval named 'b'"),
    ('name = "s"\n' + OK_EVAL + 'gate = { max_regression = -1 }\n', "evals[0] ('a').gate.max_regression"),
    ('name = "s"\ninclude = ["s.toml"]\n', "include cycle"),
    ('name = "s"\ninclude = ["nope.toml"]\n', "suite file not found"),
])
def test_malformed_suites_name_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_suite(path)
    assert expected in str(exc.value) and str(path.parent) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_prompt_sets_report_file_and_line(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"prompt": "fine"}\n{"prompt": 3}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: missing string field 'prompt'"):
        load_prompt_set("p.jsonl", tmp_path)
    (tmp_path / "p.jsonl").write_text('{"prompt": "fine"}\n{oops\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: invalid JSON"):
        load_prompt_set("p.jsonl", tmp_path)
    with pytest.raises(ConfigError, match="unknown prompt-set scheme 'nosuch'"):
        load_prompt_set("nosuch:thing", tmp_path)


def test_prompt_set_from_a_plugin_scheme(temp_plugin):
    import rlit

    class Plugin:
        @rlit.hookimpl
        def register_prompt_sets(self, register):
            register("testset", lambda spec: [{"prompt": f"{spec} {i}", "category": "c"} for i in range(3)])

    temp_plugin(Plugin(), "test-prompt-sets")
    ps = load_prompt_set("testset:hello", limit=2)
    assert [r["prompt"] for r in ps.rows] == ["hello 0", "hello 1"] and ps.source == "testset:hello"
    assert all(r["key"].startswith("p-") for r in ps.rows) and ps.sha256


# -- integration with the real rlit-rules `ifeval` source (skipped when it is not installed) ----

IFEVAL_ROWS = [  # the project's own rows, IFEval format
    {"key": 1, "prompt": "Describe a quiet morning in lowercase letters only.",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}], "topic": "morning"},
    {"key": 2, "prompt": "Name a tool without using any commas. End with the phrase 'That is all.'",
     "instruction_id_list": ["punctuation:no_comma", "startend:end_checker"], "kwargs": [{}, {"end_phrase": "That is all."}],
     "topic": "tools"},
    {"key": 3, "prompt": "Write about rain in at least 40 words.",
     "instruction_id_list": ["length_constraints:number_words"], "kwargs": [{"relation": "at least", "num_words": 40}],
     "topic": "rain"},
]


def test_instruction_level_breakdown_with_the_ifeval_source(tmp_path, registry, tiny_policy_dir):
    if "ifeval" not in registry.sources:
        pytest.skip("rlit-rules (the ifeval source) is not installed")
    from rlit.evaluation import evaluate

    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in IFEVAL_ROWS))
    write(tmp_path, 'name = "if"\n[generation]\nmax_new_tokens = 8\n'
          '[[evals]]\nname = "prompt"\nprompts = "p.jsonl"\nmetric = { source = "ifeval" }\naggregate = { method = "prompt_level" }\n'
          '[[evals]]\nname = "inst"\nprompts = "p.jsonl"\nmetric = { source = "ifeval" }\naggregate = { method = "instruction_level" }\n')
    res = evaluate(tmp_path / "s.toml", str(tiny_policy_dir), cache_dir=None, progress=False)
    inst = res.evals["inst"]
    assert inst.n_units == 3 and sum(u.weight for u in inst.units) == 4  # four instructions
    assert {"type:change_case", "type:punctuation", "type:startend", "type:length_constraints",
            "punctuation:no_comma"} <= set(inst.breakdown)
    # Prompt level is "every instruction followed": never above the instruction level here.
    assert res.values["prompt"] <= res.values["inst"] + 1e-9
    assert inst.breakdown["type:length_constraints"].value == 0.0  # 8 tokens cannot be 40 words


@pytest.mark.slow
def test_garbage_model_fails_the_release_suite(tmp_path, monkeypatch, capsys):
    """A tiny random GPT-2 emits garbage: `rlit evaluate --suite evals/release.toml` exits 1."""
    from rlit.cli import main

    monkeypatch.setattr(sys, "argv", ["rlit", "evaluate", "--model", "builtin:tiny-gpt2", "--suite", str(EVALS / "release.toml"),
                                      "--limit", "60", "--max-new-tokens", "48", "--out", str(tmp_path / "o"), "--no-cache"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1, capsys.readouterr().err
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    gates = {e["name"]: e["gate"]["status"] for e in res["evals"]}
    assert gates["reference-fluency"] == "fail" and "error" not in gates.values(), gates
