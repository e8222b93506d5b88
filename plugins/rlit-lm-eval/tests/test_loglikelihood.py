"""The `lm-eval` model evaluator: what it checks before the model loads, and the built-in tasks' data.
(Running the tasks on a model: tests/test_evaluation_lm_eval.py, marked slow.)"""

from __future__ import annotations

import csv
import json

import pytest

from rlit.errors import ConfigError, DataError
from rlit.evaluation.suite import LmEvalSpec
from rlit_lm_eval.loglikelihood import LoglikelihoodEvaluator, crows_pairs_rows, reference_rows


def test_entry_point_registers_the_model_evaluator(registry):
    assert isinstance(registry.model_evaluator("lm-eval"), LoglikelihoodEvaluator)
    assert registry.plugins["lm-eval"].model_evaluators == ["lm-eval"]


def test_check_refuses_a_missing_yaml_and_untrusted_code(tmp_path):
    evaluator = LoglikelihoodEvaluator()
    evaluator.check(LmEvalSpec(task="crows-pairs"), tmp_path)  # built in: nothing to check yet
    with pytest.raises(ConfigError, match=r"no built-in task \(crows-pairs, reference-loglikelihood\) or task YAML 'nope.yaml'"):
        evaluator.check(LmEvalSpec(task="nope.yaml"), tmp_path)
    (tmp_path / "t.yaml").write_text("task: t\nprocess_results: !function utils.process\n")
    with pytest.raises(ConfigError, match=r"t.yaml:2: lm_eval.task YAML has `!function utils.process`"):
        evaluator.check(LmEvalSpec(task="t.yaml"), tmp_path)
    evaluator.check(LmEvalSpec(task="t.yaml", trust_code=True), tmp_path)


def test_built_in_task_data_errors_name_the_file_and_line(tmp_path):
    with (tmp_path / "pairs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bias_type", "sentence", "mask1", "mask2"])
        w.writerow(["age", "The [MASK] man sang.", "old", "young"])
        w.writerow(["age", "No mask here.", "old", "young"])  # skipped: nothing to swap
    assert crows_pairs_rows(tmp_path / "pairs.csv") == [
        {"key": "crows-2", "sent_more": "The old man sang.", "sent_less": "The young man sang.", "bias_type": "age"}]
    (tmp_path / "ref.jsonl").write_text(json.dumps({"prompt": "p", "completion": "two words"}) + "\n" + json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(DataError, match=r"ref.jsonl:2: needs string fields 'prompt' and a non-empty 'completion'"):
        reference_rows(tmp_path / "ref.jsonl")
