"""Hostile inputs for `rlit evaluate`, `rlit gate` and `rlit compare` (loaded by test_hostile.py)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

harness = sys.modules["rlit_hostile_harness"]
Case = harness.Case
write = harness.write
write_jsonl = harness.write_jsonl

# -- inputs -----------------------------------------------------------------------------------

ROWS = [{"key": f"r{i}", "prompt": f"Say something about item {i}.", "category": "plain", "group": None} for i in range(6)]
ROWS += [{"key": f"g{g}-{j}", "prompt": f"Describe person {j} of group {g}.", "category": "cf", "group": f"g{g}"}
         for g in range(2) for j in range(2)]

SUITE = """
name = "hostile"
bootstrap = 100
[generation]
max_new_tokens = 2
batch_size = 8
[[evals]]
name = "len"
prompts = "p.jsonl"
metric = { source = "length", options = { min = 1, max = 40 } }
aggregate = { method = "mean", by = "category" }
"""

GAP_SUITE = SUITE + """
[[evals]]
name = "gap"
prompts = "p.jsonl"
metric = { source = "length", options = { min = 1, max = 40 } }
aggregate = { method = "group_gap" }
"""


def suite(text: str = SUITE, rows: list | None = None):
    def setup(d: Path, model: Path) -> None:
        write_jsonl(d, "p.jsonl", ROWS if rows is None else rows)
        write(d, "s.toml", text)
    return setup


def results_doc(evals: list[dict], name: str = "hostile") -> dict:
    return {"format": "rlit-results/1", "suite": {"name": name}, "verdict": "pass", "baseline": None,
            "manifest": {}, "evals": evals}


def ok_eval(name: str = "len", values=(0.5, 0.7)) -> dict:
    return {"name": name, "status": "ok", "value": sum(values) / len(values), "stat": "mean", "higher_is_better": True,
            "ci": [0.4, 0.8], "n_units": len(values),
            "units": [{"key": f"r{i}", "value": v, "weight": 1.0, "category": None} for i, v in enumerate(values)]}


def results_file(name: str, doc, raw: bytes | None = None, with_suite: bool = True):
    def setup(d: Path, model: Path) -> None:
        if with_suite:
            suite()(d, model)
        write(d, name, raw if raw is not None else json.dumps(doc))
    return setup


def both(*setups):
    def setup(d: Path, model: Path) -> None:
        for s in setups:
            s(d, model)
    return setup


def lm_eval_suite(yaml_files: dict[str, str], task: str = "t.yaml", extra: str = ""):
    def setup(d: Path, model: Path) -> None:
        for name, text in yaml_files.items():
            write(d, name, text)
        # Would leave a marker if lm-eval ever imported it: the case checks it never ran.
        write(d, "utils.py", f"open({str(d / 'RAN')!r}, 'w').write('x')\ndef process(doc, results):\n    return {{}}\n")
        write(d, "s.toml", f'name = "lm"\n{extra}[[evals]]\nname = "t"\nlm_eval = {{ task = "{task}" }}\n')
    return setup


def never_ran(d: Path) -> None:
    assert not (d / "RAN").exists(), "the task's Python ran without trust_code"


def truncated_model(d: Path, model: Path) -> None:
    suite()(d, model)
    copy = Path(shutil.copytree(model, d / "model"))
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])


def damaged_cache(d: Path, model: Path) -> None:
    """A first run fills the cache; then every cache file gets bad bytes and lines of the wrong shape."""
    from rlit.evaluation import evaluate

    suite()(d, model)
    evaluate(d / "s.toml", str(model), cache_dir=d / ".cache", progress=False)
    for f in (d / ".cache").rglob("*.jsonl"):
        with f.open("ab") as fh:
            fh.write(b'\xff\xfe not utf-8\n[1, 2]\n{"k": 3, "v": "x"}\n{"k": "a", "v": 5, "extra": 1}\n')


def cache_was_cleaned(d: Path) -> None:
    for f in (d / ".cache").rglob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            item = json.loads(line.decode("utf-8"))
            assert isinstance(item, dict) and set(item) == {"k", "v"}, f"{f} still has {line!r}"
    res = json.loads((d / "o" / "results.json").read_text())
    assert res["verdict"] == "pass" and res["manifest"]["cache"]["generations"]["cached"] > 0


def gap_has_groups(d: Path) -> None:
    res = json.loads((d / "o" / "results.json").read_text())
    by = {e["name"]: e for e in res["evals"]}
    assert by["gap"]["status"] == "ok" and by["gap"]["n_units"] >= 1, by["gap"]
    sel = by["len"]["prompts"]["selection"]
    assert sel["n"] <= 4 and sel["method"] and {"plain", "cf"} == set(by["len"]["breakdown"])


def summary_escaped(d: Path) -> None:
    text = (d / "o" / "summary.md").read_text()
    assert "<img" not in text and "&lt;img" in text and "\\|" in text
    assert "<img" not in (d / "o" / "report.html").read_text().split("<h2>Manifest")[0]


EVAL = ["evaluate", "--model", "{model}", "--suite", "s.toml", "--out", "o", "--no-cache"]

CASES: list[Case] = [
    # -- options and suites ---------------------------------------------------------------------
    Case("eval-limit-zero", EVAL + ["--limit", "0"], 2, r"--limit", suite()),
    Case("eval-limit-negative", EVAL + ["--limit", "-3"], 2, r"--limit", suite()),
    Case("eval-max-new-tokens-zero", EVAL + ["--max-new-tokens", "0"], 2, r"--max-new-tokens", suite()),
    Case("eval-suite-without-evals", EVAL, 2, r"s\.toml: no evals", suite('name = "empty"\n')),
    Case("eval-suite-nan-temperature", EVAL, 2, r"s\.toml: .*temperature",
         suite(SUITE.replace("batch_size = 8", "batch_size = 8\ndo_sample = true\ntemperature = nan"))),
    Case("eval-suite-inf-gate", EVAL, 2, r"s\.toml: evals\[0\] \('len'\)\.gate\.min",
         suite(SUITE + "gate = { min = -inf }\n")),
    Case("eval-suite-not-utf8", EVAL, 2, r"s\.toml: not UTF-8",
         both(suite(), lambda d, m: write(d, "s.toml", b'name = "\xff\xfe"\n'))),
    Case("eval-prompts-not-utf8", EVAL, 2, r"p\.jsonl:2: not UTF-8",
         both(suite(), lambda d, m: write(d, "p.jsonl", b'{"prompt": "fine"}\n{"prompt": "\xff"}\n'))),
    Case("eval-metric-unknown-option", EVAL, 2, r"s\.toml: evals \('len'\)\.metric: sources\[0\]\.options\.mn: unknown option",
         suite(SUITE.replace("options = { min = 1, max = 40 }", "options = { mn = 1 }"))),
    # -- outputs, device, model -----------------------------------------------------------------
    Case("eval-out-is-a-file", EVAL[:-3] + ["--out", "taken.txt", "--no-cache"], 2, r"--out .*taken\.txt.*not a folder",
         both(suite(), lambda d, m: write(d, "taken.txt", "mine")), keep=("taken.txt",)),
    Case("eval-out-under-a-file", EVAL[:-3] + ["--out", "taken.txt/o", "--no-cache"], 2, r"--out .*taken\.txt.* is a file",
         both(suite(), lambda d, m: write(d, "taken.txt", "mine")), keep=("taken.txt",)),
    Case("eval-cache-dir-is-a-file", EVAL[:-1] + ["--cache-dir", "c.txt"], 2, r"--cache-dir .*c\.txt",
         both(suite(), lambda d, m: write(d, "c.txt", "mine")), keep=("c.txt",)),
    Case("eval-baseline-is-the-output", EVAL + ["--baseline", "o/results.json"], 2, r"--out .* same file as --baseline",
         both(suite(), results_file("o/results.json", results_doc([ok_eval()])) ), keep=("o/results.json",)),
    Case("eval-device-banana", EVAL + ["--device", "banana"], 2, r"--device 'banana'", suite()),
    Case("eval-device-missing-gpu", EVAL + ["--device", "cuda:99"], 2, r"--device 'cuda:99'", suite()),
    Case("eval-model-folder-missing", ["evaluate", "--model", "{d}/no-such-model", "--suite", "s.toml", "--out", "o", "--no-cache"],
         2, r"no-such-model", suite()),
    Case("eval-model-truncated-weights", ["evaluate", "--model", "{d}/model", "--suite", "s.toml", "--out", "o", "--no-cache"],
         2, r"model", truncated_model),
    Case("eval-baseline-a-list", EVAL + ["--baseline", "b.json"], 2, r"b\.json: not an rlit results file",
         results_file("b.json", [1, 2])),
    Case("eval-baseline-missing-file", EVAL + ["--baseline", "nope.json"], 2, r"results file not found: nope\.json", suite()),
    # -- selection, caches, code ----------------------------------------------------------------
    Case("eval-limit-keeps-groups-and-categories", EVAL + ["--limit", "4"], 0, r"generations: \d+ computed",
         suite(GAP_SUITE), check=gap_has_groups),
    Case("eval-cache-damaged-lines", EVAL[:-1], 0, r"warning: cache .* skipped \d+ damaged line",
         damaged_cache, check=cache_was_cleaned),
    Case("eval-lm-eval-function-refused", EVAL, 2, r"t\.yaml:3: .*!function utils\.process.*trust_code",
         lm_eval_suite({"t.yaml": "task: t\ndataset_path: json\nprocess_results: !function utils.process\n"}),
         check=never_ran),
    Case("eval-lm-eval-included-function-refused", EVAL, 2, r"base\.yaml:2: .*!function utils\.process",
         lm_eval_suite({"t.yaml": "include: base.yaml\ntask: t\n", "base.yaml": "dataset_path: json\nprocess_results: !function utils.process\n"}),
         check=never_ran),
    Case("eval-lm-eval-tag-directive-refused", EVAL, 2, r"t\.yaml:4: .*!function",
         lm_eval_suite({"t.yaml": "%TAG !f! !func\n---\ntask: t\nprocess_results: !f!tion utils.process\n"}), check=never_ran),
    Case("eval-lm-eval-shadowed-lm-eval-module-refused", EVAL, 2, r"t\.yaml:2: .*!function lm_eval\.tasks\.x\.utils",
         both(lm_eval_suite({"t.yaml": "task: t\nprocess_results: !function lm_eval.tasks.x.utils.process\n"}),
              lambda d, m: write(d, "lm_eval/tasks/x/utils.py", "raise SystemExit('ran')\n")), check=never_ran),
    # -- gate: results files of the wrong shape -------------------------------------------------
    Case("gate-results-a-list", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: not an rlit results file .*list",
         results_file("r.json", [])),
    Case("gate-results-without-evals", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: evals: Field required",
         results_file("r.json", {"format": "rlit-results/1"})),
    Case("gate-eval-without-units", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: evals\[0\] \('len'\): missing key\(s\) units",
         results_file("r.json", results_doc([{k: v for k, v in ok_eval().items() if k != "units"}]))),
    Case("gate-units-not-numbers", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: evals\[0\] \('len'\)\.units\[1\]\.value",
         results_file("r.json", results_doc([{**ok_eval(), "units": [{"key": "a", "value": 0.1}, {"key": "b", "value": "high"}]}]))),
    Case("gate-eval-status-unknown", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: evals\[0\] \('len'\)\.status",
         results_file("r.json", results_doc([{**ok_eval(), "status": "great"}]))),
    Case("gate-results-not-utf8", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: not UTF-8",
         results_file("r.json", None, raw=b'{"format": "\xff"}')),
    Case("gate-results-truncated-json", ["gate", "r.json", "--suite", "s.toml"], 2, r"r\.json: not valid JSON",
         results_file("r.json", None, raw=json.dumps(results_doc([ok_eval()]))[:40].encode())),
    Case("gate-baseline-wrong-shape", ["gate", "r.json", "--suite", "s.toml", "--baseline", "b.json"], 2,
         r"b\.json: evals\[0\] \('len'\)\.higher_is_better",
         both(results_file("r.json", results_doc([ok_eval()])),
              results_file("b.json", results_doc([{**ok_eval(), "higher_is_better": "yes"}]), with_suite=False))),
    Case("gate-out-is-a-file", ["gate", "r.json", "--suite", "s.toml", "--out", "taken.txt"], 2, r"--out .*taken\.txt",
         both(results_file("r.json", results_doc([ok_eval()])), lambda d, m: write(d, "taken.txt", "mine")), keep=("taken.txt", "r.json")),
    Case("gate-out-overwrites-input", ["gate", "o/results.json", "--suite", "s.toml", "--out", "o"], 2, r"same file as RESULTS_FILE",
         results_file("o/results.json", results_doc([ok_eval()])), keep=("o/results.json",)),
    Case("gate-markdown-injection-escaped", ["gate", "r.json", "--suite", "s.toml", "--out", "o"], 2, r"could not be evaluated",
         results_file("r.json", results_doc([{"name": "len", "status": "error", "error": "<img src=x onerror=alert(1)> | *boom*"}],
                                            name="a | <img src=x> [link](http://x)")), check=summary_escaped),
    # -- compare --------------------------------------------------------------------------------
    Case("compare-no-eval-in-common", ["compare", "a.json", "b.json"], 2, r"nothing to compare: no eval in common",
         both(results_file("a.json", results_doc([ok_eval("x")])), results_file("b.json", results_doc([ok_eval("y")]), with_suite=False))),
    Case("compare-lists-evals-in-one-file", ["compare", "a.json", "b.json"], 2, r"only in a\.json: x",
         both(results_file("a.json", results_doc([ok_eval("x")])), results_file("b.json", results_doc([ok_eval("y")]), with_suite=False))),
    Case("compare-only-errors", ["compare", "a.json", "b.json"], 2, r"no eval computed in both",
         both(results_file("a.json", results_doc([{"name": "x", "status": "error", "error": "boom"}])),
              results_file("b.json", results_doc([ok_eval("x")]), with_suite=False))),
    Case("compare-not-json", ["compare", "a.json", "b.json"], 2, r"a\.json: not valid JSON",
         both(results_file("a.json", None, raw=b"{oops"), results_file("b.json", results_doc([ok_eval()]), with_suite=False))),
    Case("compare-missing-file", ["compare", "a.json", "nope.json"], 2, r"results file not found: nope\.json",
         results_file("a.json", results_doc([ok_eval()]))),
    Case("compare-bad-confidence", ["compare", "a.json", "a.json", "--confidence", "2"], 2, r"--confidence",
         results_file("a.json", results_doc([ok_eval()]))),
]

