"""`rlit evaluate` options (--evals, --batch-size, --seed, --dtype, --model-args, samples files),
gate messages as comparisons, and `rlit --version`."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from rlit.errors import ConfigError
from rlit.evaluation.gate import gate_eval
from rlit.evaluation.results import Comparison, EvalResult
from rlit.evaluation.runner import select_evals
from rlit.evaluation.suite import GateSpec, Suite, load_suite, parse_model_args
from rlit.devices import resolve_dtype

ROWS = [{"key": f"k{i}", "prompt": p} for i, p in enumerate(["Say hello.", "List three colours.", "Name a river."])]
SUITE = """
name = "opts"
bootstrap = 100
{extra}
[generation]
max_new_tokens = 4
[[evals]]
name = "length-short"
prompts = "p.jsonl"
metric = {{ source = "length", options = {{ min = 2, max = 40 }} }}
[[evals]]
name = "length-long"
prompts = "p.jsonl"
metric = {{ source = "length", options = {{ min = 1, max = 80 }} }}
"""


def write(tmp_path, extra: str = ""):
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(SUITE.format(extra=extra)))
    return path



def test_model_args_parse_json_scalars_and_name_the_bad_key():
    assert parse_model_args("revision=main,low_cpu_mem_usage=true,device_map=auto") == {
        "revision": "main", "low_cpu_mem_usage": True, "device_map": "auto"}
    assert parse_model_args(None) == {} and parse_model_args({"variant": "fp16"}) == {"variant": "fp16"}
    for text, culprit in [("trust_remote_code=true", "trust_remote_code"), ("revison=main", "revison"),
                          ("use_safetensors=maybe", "use_safetensors"), ("revision", "'revision' is not key=value")]:
        with pytest.raises(ConfigError, match=culprit):
            parse_model_args(text)


def test_select_evals_keeps_suite_order_and_suggests_on_typo(tmp_path):
    suite = load_suite(write(tmp_path))
    assert [e.name for e in select_evals(suite, "length-long,length-short")] == ["length-short", "length-long"]
    with pytest.raises(ConfigError, match="did you mean 'length-long'"):
        select_evals(suite, "length-lng")


def test_dtype_auto_is_float32_on_cpu_and_bad_dtype_is_config_error():
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(ConfigError, match="'fp8'"):
        resolve_dtype("fp8", "cpu")


def test_suite_keys_dtype_and_model_args_are_validated(tmp_path):
    suite = load_suite(write(tmp_path, 'dtype = "auto"\nmodel_args = { revision = "v1" }'))
    assert suite.dtype == "auto" and suite.model_args.kwargs() == {"revision": "v1"}
    with pytest.raises(ConfigError, match=r"suite.toml: model_args.trust_remote_code"):
        load_suite(write(tmp_path, "model_args = { trust_remote_code = true }"))


@pytest.mark.parametrize("value, gate, message, status", [
    (0.3429, GateSpec(min=0.95), "0.3429 < min 0.95", "fail"),
    (0.97, GateSpec(min=0.95), "0.9700 >= min 0.95", "pass"),
    (0.2, GateSpec(max=0.1), "0.2000 > max 0.1", "fail"),
    (0.05, GateSpec(max=0.1), "0.0500 <= max 0.1", "pass"),
])
def test_gate_messages_are_comparisons(value, gate, message, status):
    out = gate_eval(EvalResult(name="a", status="ok", value=value, units=[], stat="mean", higher_is_better=True), gate, False)
    assert out.status == status and out.checks[0].message == message


@pytest.mark.parametrize("higher, cmp, message, status", [
    (True, {"diff": -0.2, "lower": -0.3, "upper": -0.1, "alpha": 0.05},
     "upper bound -0.1000 < +0.0000 allowed regression (diff -0.2000, one-sided 95%)", "fail"),
    (False, {"diff": 0.01, "lower": -0.02, "upper": 0.04, "alpha": 0.05},
     "lower bound -0.0200 <= +0.0500 allowed regression (diff +0.0100, one-sided 95%)", "pass"),
])
def test_regression_messages_are_comparisons(higher, cmp, message, status):
    result = EvalResult(name="a", status="ok", value=0.5, units=[], stat="mean", higher_is_better=higher,
                        comparison=Comparison(n_pairs=1, **cmp))
    out = gate_eval(result, GateSpec(max_regression=0.0 if higher else 0.05), True)
    assert out.status == status and out.checks[0].message == message


def test_evaluate_options_recorded_samples_written_and_dtype_in_cache_key(rlit_main, tmp_path, tiny_policy_dir, monkeypatch, capsys):
    suite, out = write(tmp_path), tmp_path / "out"
    monkeypatch.setenv("RLIT_CACHE_DIR", str(tmp_path / "cache"))
    args = ["evaluate", "--model", tiny_policy_dir, "--suite", suite, "--out", out, "--evals", "length-short",
            "--batch-size", "2", "--seed", "7", "--model-args", "low_cpu_mem_usage=true"]
    assert rlit_main(*args) == 0
    res = json.loads((out / "results.json").read_text())
    assert [e["name"] for e in res["evals"]] == ["length-short"]
    assert res["manifest"]["model"]["dtype"] == "float32"
    assert res["manifest"]["model"]["model_args"] == {"low_cpu_mem_usage": True}
    assert res["manifest"]["overrides"]["seed"] == 7 and res["evals"][0]["generation"]["batch_size"] == 2
    rows = [json.loads(line) for line in (out / "samples_length-short.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == ["k0", "k1", "k2"] and set(rows[0]["scores"]) == {"length"}
    assert not (out / "samples_length-long.jsonl").exists()
    capsys.readouterr()
    assert rlit_main(*args) == 0
    assert "generations: 0 computed, 3 from cache" in capsys.readouterr().err
    assert rlit_main(*args, "--dtype", "bfloat16") == 0  # another dtype: other numbers, not the cache's
    assert "generations: 3 computed, 0 from cache" in capsys.readouterr().err


@pytest.mark.parametrize("extra, culprit", [
    (["--evals", "length-shrot"], "did you mean 'length-short'"),
    (["--dtype", "fp8"], "--dtype 'fp8'"),
    (["--model-args", "attn_implementaton=eager"], "attn_implementaton"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_options_exit_2_before_loading_the_model(rlit_main, tmp_path, monkeypatch, capsys, extra, culprit):
    args = ["evaluate", "--model", tmp_path / "no-such-model", "--suite", write(tmp_path), "--out", tmp_path / "o"]
    assert rlit_main(*args, *extra) == 2
    assert culprit in capsys.readouterr().err


def test_version_lists_rlit_and_plugins(rlit_main, monkeypatch, capsys):
    assert rlit_main("--version") == 0
    out = capsys.readouterr().out
    assert out.startswith("rlit ") and "rlit-rules" in out
