"""rlit-lm-eval: the one path by which rlit runs lm-eval generate_until tasks.

- prompt sets ``lm-eval:<task name or YAML path>``: the task's eval docs through lm-eval's
  context building (description, few-shot, ``doc_to_text``), each row carrying its ``doc``;
- reward source ``lm-eval``: the task's filters and ``process_results`` metric per completion;
- model evaluator ``lm-eval``: loglikelihood tasks on the model itself (a suite eval's ``lm_eval``
  table): the built-in ``crows-pairs`` and ``reference-loglikelihood``, or a task YAML.
"""

from __future__ import annotations

import rlit
from rlit_lm_eval.loglikelihood import LoglikelihoodEvaluator
from rlit_lm_eval.source import LmEvalSource
from rlit_lm_eval.tasks import load_prompt_set, load_task, prompt_rows

__all__ = ["LmEvalSource", "LoglikelihoodEvaluator", "load_prompt_set", "load_task", "prompt_rows"]


@rlit.hookimpl
def register_rewards(register):
    register(LmEvalSource)


@rlit.hookimpl
def register_prompt_sets(register):
    register("lm-eval", load_prompt_set)


@rlit.hookimpl
def register_model_evaluators(register):
    register("lm-eval", LoglikelihoodEvaluator())
