"""The lm-eval adapter against lm-eval itself: same contexts, same filtered per-sample metrics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rlit.errors import ConfigError, DataError, SourceError

REPO = Path(__file__).resolve().parents[3]
SHIPPED_IFEVAL = REPO / "evals" / "lm_eval" / "rlit_ifeval.yaml"

# Hand-written docs in IFEval's format (not taken from any dataset).
IFEVAL_DOCS = [
    {"key": 1, "prompt": "Write two sentences about tea. Do not use any commas in your reply.",
     "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 2, "prompt": "Describe a bicycle in at least 3 sentences and end with the phrase 'Any other questions?'",
     "instruction_id_list": ["length_constraints:number_sentences", "startend:end_checker"],
     "kwargs": [{"relation": "at least", "num_sentences": 3}, {"end_phrase": "Any other questions?"}]},
    {"key": 3, "prompt": "Answer in all lowercase letters: what is a kettle for?",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
]
IFEVAL_RESPONSES = [
    ["Tea is calm. It warms the hands.", "Tea is calm, and it warms the hands."],
    ["A bicycle has two wheels. It has pedals. It is fun to ride. Any other questions?",
     "A bicycle has two wheels. Any other questions?", "Sure!\nA bicycle has two wheels. It has pedals. It rolls. Any other questions?\nHope this helps."],
    ["a kettle boils water.", "A kettle boils water."],
]
IFEVAL_METRICS = ["prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def shipped_ifeval(tmp_path_factory) -> Path:
    """The shipped rlit_ifeval.yaml in a copy of its folder layout, over hand-written docs."""
    root = tmp_path_factory.mktemp("evals")
    write_jsonl(root / "data" / "instructions-test.jsonl", IFEVAL_DOCS)
    (root / "lm_eval").mkdir()
    return Path(shutil.copy(SHIPPED_IFEVAL, root / "lm_eval" / "rlit_ifeval.yaml"))


# A task with a description, one few-shot example, and two filter ensembles (regex -> take_first).
ARITH_YAML = """
task: tiny_arith
dataset_path: json
dataset_kwargs:
  data_files:
    train: arith_train.jsonl
    test: arith_test.jsonl
output_type: generate_until
training_split: train
test_split: test
fewshot_split: train
num_fewshot: 1
description: "Solve the sum."
doc_to_text: "Q: {{question}}\\nA:"
doc_to_target: "{{answer}}"
generation_kwargs: {until: ["\\n\\n"], do_sample: false, max_gen_toks: 16}
filter_list:
  - name: strict
    filter:
      - function: regex
        regex_pattern: "The answer is (\\\\-?[0-9]+)"
      - function: take_first
  - name: flexible
    filter:
      - function: regex
        group_select: -1
        regex_pattern: "(-?[0-9]+)"
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""
ARITH_TRAIN = [{"question": "1 + 1", "answer": "2"}, {"question": "2 + 5", "answer": "7"}]
ARITH_TEST = [{"question": "3 + 4", "answer": "7"}, {"question": "10 + 5", "answer": "15"},
              {"question": "6 + 6", "answer": "12"}, {"question": "0 + 9", "answer": "9"}]
ARITH_RESPONSES = ["The answer is 7.", "I think 15", "The answer is 13. No, 12", "nine"]


@pytest.fixture(scope="module")
def arith_yaml(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("arith")
    write_jsonl(folder / "arith_train.jsonl", ARITH_TRAIN)
    write_jsonl(folder / "arith_test.jsonl", ARITH_TEST)
    path = folder / "tiny_arith.yaml"
    path.write_text(ARITH_YAML)
    return path


def run_lm_eval(task_yaml: Path, responses: list[str]) -> tuple[list[str], list[dict]]:
    """lm-eval's own evaluator on canned responses: the contexts it built and its logged samples."""
    from lm_eval import simple_evaluate
    from lm_eval.api.model import LM
    from lm_eval.tasks import TaskManager

    class Canned(LM):
        def __init__(self):
            super().__init__()
            self.contexts: list[str] = []

        def generate_until(self, requests, disable_tqdm=False):
            self.contexts += [r.args[0] for r in requests]
            return [responses[r.doc_id] for r in requests]

        def loglikelihood(self, requests, disable_tqdm=False):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests, disable_tqdm=False):
            raise NotImplementedError

    lm = Canned()
    out = simple_evaluate(model=lm, tasks=[str(task_yaml)], task_manager=TaskManager(include_defaults=False),
                          log_samples=True, bootstrap_iters=0)
    samples = next(iter(out["samples"].values()))
    return lm.contexts, samples


def test_rows_and_scores_match_lm_eval_with_fewshot_and_filters(registry, arith_yaml, monkeypatch, tmp_path):
    monkeypatch.chdir(arith_yaml.parent)  # lm-eval itself resolves the data files against the CWD
    contexts, samples = run_lm_eval(arith_yaml, ARITH_RESPONSES)
    monkeypatch.chdir(tmp_path)  # rlit resolves them against the YAML's folder, wherever we are
    rows = registry.prompt_sets["lm-eval"](str(arith_yaml))
    assert [r["prompt"] for r in rows] == contexts
    first = rows[0]["prompt"]
    assert first.startswith("Solve the sum.") and ("Q: 1 + 1" in first or "Q: 2 + 5" in first) and first.endswith("Q: 3 + 4\nA:")
    assert [r["doc"] for r in rows] == ARITH_TEST
    assert [r["question"] for r in rows] == [d["question"] for d in ARITH_TEST]
    assert len({r["key"] for r in rows}) == len(rows)

    source_cls = registry.source_class("lm-eval")
    docs = [r["doc"] for r in rows]
    for filter_name in ("strict", "flexible"):
        source = source_cls(task=str(arith_yaml), filter=filter_name)
        got = source.score([r["prompt"] for r in rows], ARITH_RESPONSES, doc=docs)
        expected = [next(s for s in samples if s["doc_id"] == i and s["filter"] == filter_name)["exact_match"] for i in range(4)]
        assert got == [float(e) for e in expected]
    strict = source_cls(task=str(arith_yaml), filter="strict")
    assert strict.score([""] * 4, ARITH_RESPONSES, doc=docs) == [1.0, 0.0, 0.0, 0.0]
    flexible = source_cls(task=str(arith_yaml), filter="flexible")
    assert flexible.score([""] * 4, ARITH_RESPONSES, doc=docs) == [1.0, 1.0, 1.0, 0.0]
    assert flexible.details([""], ["x 13 then 12"], doc=docs[2:3]) == [{"filtered": "12", "exact_match": 1.0}]


def test_shipped_ifeval_task_agrees_with_lm_eval_process_results(registry, shipped_ifeval):
    from lm_eval.tasks.ifeval.utils import process_results

    rows = registry.prompt_sets["lm-eval"](str(shipped_ifeval))
    assert [r["prompt"] for r in rows] == [d["prompt"] for d in IFEVAL_DOCS]
    assert [r["instruction_id_list"] for r in rows] == [d["instruction_id_list"] for d in IFEVAL_DOCS]
    docs, completions = [], []
    for row, responses in zip(rows, IFEVAL_RESPONSES):
        docs += [row["doc"]] * len(responses)
        completions += responses
    for metric in IFEVAL_METRICS:
        source = registry.source_class("lm-eval")(task=str(shipped_ifeval), metric=metric)
        got = source.score([""] * len(completions), completions, doc=docs)
        expected = [process_results(doc, [c])[metric] for doc, c in zip(docs, completions)]
        expected = [sum(e) / len(e) if isinstance(e, list) else float(e) for e in expected]
        assert got == expected, metric
    # The hand-written responses exercise both verdicts, so agreement is not trivially all-ones.
    strict = registry.source_class("lm-eval")(task=str(shipped_ifeval))
    assert strict.metric == "prompt_level_strict_acc"
    assert strict.score([""] * len(completions), completions, doc=docs) == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    loose = registry.source_class("lm-eval")(task=str(shipped_ifeval), metric="prompt_level_loose_acc")
    assert loose.score([""] * len(completions), completions, doc=docs)[4] == 1.0
    # The doc may also travel as a JSON string (a JSONL column written by another tool).
    assert strict.score([""], [completions[0]], doc=[json.dumps(docs[0])]) == [1.0]


def test_scores_do_not_depend_on_the_batch_when_the_task_draws_random_values(shipped_ifeval):
    from rlit_lm_eval.source import LmEvalSource

    # let_frequency 0 is dropped by lm-eval's `if v` filter, so the checker draws a random count.
    doc = {"key": 9, "prompt": "Use the letter z.", "instruction_id_list": ["keywords:letter_frequency"],
           "kwargs": [{"letter": "z", "let_frequency": 0, "let_relation": "at least"}]}
    source = LmEvalSource(task=str(shipped_ifeval))
    scores = source.score([""] * 12, ["zzzzz buzz"] * 12, doc=[doc] * 12)
    assert len(set(scores)) == 1
    import random

    random.seed(5)
    before = random.random()
    random.seed(5)
    source.score([""], ["zz"], doc=[doc])
    assert random.random() == before  # the caller's random stream is untouched


def test_real_project_prompts_load_when_present(registry):
    data = REPO / "evals" / "data" / "instructions-test.jsonl"
    if not data.exists():
        pytest.skip("evals/data/instructions-test.jsonl not written yet")
    rows = registry.prompt_sets["lm-eval"](str(SHIPPED_IFEVAL))
    assert len(rows) == sum(1 for line in data.open() if line.strip())
    assert all(r["prompt"] and r["doc"]["instruction_id_list"] for r in rows)


def test_data_files_resolve_beside_yaml_then_cwd_then_fail(tmp_path, monkeypatch):
    from rlit_lm_eval.tasks import load_task, prompt_rows

    write_jsonl(tmp_path / "cwd" / "only_in_cwd.jsonl", ARITH_TEST[:1])
    yaml_dir = tmp_path / "tasks"
    yaml_dir.mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    body = ARITH_YAML.replace("num_fewshot: 1", "num_fewshot: 0").replace("training_split: train\n", "").replace("fewshot_split: train\n", "")
    body = body.replace("    train: arith_train.jsonl\n", "")
    cwd_yaml = yaml_dir / "cwd_task.yaml"
    cwd_yaml.write_text(body.replace("task: tiny_arith", "task: cwd_task").replace("arith_test.jsonl", "only_in_cwd.jsonl"))
    assert [r["doc"] for r in prompt_rows(load_task(str(cwd_yaml)))] == ARITH_TEST[:1]
    missing = yaml_dir / "missing.yaml"
    missing.write_text(body.replace("task: tiny_arith", "task: missing_task").replace("arith_test.jsonl", "nowhere.jsonl"))
    with pytest.raises(DataError, match=r"missing.yaml: dataset_kwargs.data_files.test: data file 'nowhere.jsonl' not found"):
        load_task(str(missing))


def test_task_by_name_from_include_path_and_did_you_mean(arith_yaml):
    from rlit_lm_eval.source import LmEvalSource

    source = LmEvalSource(task="tiny_arith", include_path=str(arith_yaml.parent), filter="flexible")
    assert source.score(["x"], ["it is 7"], doc=[ARITH_TEST[0]]) == [1.0]
    with pytest.raises(ConfigError, match=r"unknown lm-eval task 'ifevall'; did you mean 'ifeval'"):
        LmEvalSource(task="ifevall")


def test_bad_options_and_columns_are_clear_errors(arith_yaml, tmp_path):
    from rlit_lm_eval.source import LmEvalSource

    with pytest.raises(ConfigError, match=r"no metric 'exact_mach'; did you mean 'exact_match'"):
        LmEvalSource(task=str(arith_yaml), metric="exact_mach")
    with pytest.raises(ConfigError, match=r"no filter 'loose' \(filters: strict, flexible\)"):
        LmEvalSource(task=str(arith_yaml), filter="loose")
    with pytest.raises(ConfigError, match=r"does not exist"):
        LmEvalSource(task=str(tmp_path / "nope.yaml"))
    source = LmEvalSource(task=str(arith_yaml))
    with pytest.raises(SourceError, match=r"needs a 'doc' column .* columns given: reference"):
        source.score(["p"], ["c"], reference=["r"])
    with pytest.raises(SourceError, match=r"row 0: column 'doc' is not a JSON object"):
        source.score(["p"], ["c"], doc=["{not json"])


def test_loglikelihood_tasks_are_refused(tmp_path):
    from rlit_lm_eval.tasks import load_task

    write_jsonl(tmp_path / "mc.jsonl", [{"q": "Sky colour?", "choices": ["blue", "green"], "label": 0}])
    (tmp_path / "mc.yaml").write_text(
        "task: tiny_mc\ndataset_path: json\ndataset_kwargs: {data_files: {test: mc.jsonl}}\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: '{{q}}'\ndoc_to_choice: choices\ndoc_to_target: label\n"
    )
    with pytest.raises(ConfigError, match=r"output_type 'multiple_choice'.*generate_until"):
        load_task(str(tmp_path / "mc.yaml"))


def test_nltk_downloads_become_clear_errors():
    import nltk

    from rlit_lm_eval.nltk_data import INSTALL_LINE, no_nltk_downloads, require_punkt_tab

    require_punkt_tab()  # the llama-index-core wheel's copy is on nltk.data.path
    original = nltk.download
    with no_nltk_downloads("lm-eval task 'x'"):
        with pytest.raises(DataError, match=rf"needs NLTK data 'stopwords'.*{INSTALL_LINE}"):
            nltk.download("stopwords")
    assert nltk.download is original


def test_entry_point_registers_source_and_prompt_set(registry):
    assert registry.sources["lm-eval"].distribution == "rlit-lm-eval"
    assert "lm-eval" in registry.prompt_sets
    assert {o.name for o in registry.source_class("lm-eval").options()} == {"task", "include_path", "metric", "filter", "doc_column", "trust_code"}
