"""The ``lm-eval`` reward source: an lm-eval generate_until task's own per-sample metric.

For each completion we do what lm-eval's evaluator does after generation: run the task's filter
ensemble over the response (``[[completion]]`` per doc, like ``inst.resps`` with one repeat), then
call ``task.process_results(doc, [filtered])`` and pick one metric. The doc comes from the row's
``doc`` column (the ``lm-eval:`` prompt set provides it), so scoring always uses the right doc.
"""

from __future__ import annotations

import difflib
import json
import math
import random
from typing import Any

import langdetect

from rlit.errors import ConfigError, SourceError
from rlit.rewards.source import RewardSource
from rlit_lm_eval.nltk_data import no_nltk_downloads
from rlit_lm_eval.tasks import jsonable, load_task


class LmEvalSource(RewardSource):
    """Scores completions with an lm-eval task's filters and ``process_results``."""

    name = "lm-eval"
    description = "An lm-eval generate_until task's own per-sample metric (after the task's filters); needs the row's `doc` column"
    higher_is_better = True

    def __init__(self, task: str, include_path: str | None = None, metric: str | None = None, filter: str | None = None,
                 doc_column: str = "doc", trust_code: bool = False):
        """``task``: lm-eval task name or YAML path; ``include_path``: folder of your own task YAMLs;
        ``metric``: one of the task's metrics (default: its first); ``filter``: which filter
        ensemble (default: its first); ``doc_column``: the column carrying each row's doc;
        ``trust_code``: let the task YAML's ``!function`` tags run the Python files they name."""
        self.task = load_task(task, include_path, trust_code)
        self.task_spec = task
        metrics = list(self.task.higher_is_better())
        self.metric = metric or (metrics[0] if metrics else "")
        if self.metric not in metrics:
            close = difflib.get_close_matches(self.metric, metrics, n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"lm-eval task {task!r} has no metric {self.metric!r}{hint} (metrics: {', '.join(metrics)})")
        self.higher_is_better = bool(self.task.higher_is_better().get(self.metric, True))
        ensembles = {f.name: f for f in self.task._filters}
        chosen = filter or next(iter(ensembles))
        if chosen not in ensembles:
            raise ConfigError(f"lm-eval task {task!r} has no filter {chosen!r} (filters: {', '.join(ensembles)})")
        self.filter = ensembles[chosen]
        self.doc_column = doc_column

    def score(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[float | None]:
        return [self._value(r, i) for i, r in enumerate(self._results(completions, columns))]

    def details(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[dict[str, Any]]:
        return [{"filtered": jsonable(r["filtered"]), **jsonable(r["metrics"])} for r in self._results(completions, columns)]

    def _results(self, completions: list[str], columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
        docs = self._docs(columns, len(completions))
        filtered = self.apply_filters(completions, docs)
        out = []
        state = random.getstate()
        try:
            with no_nltk_downloads(f"lm-eval task {self.task_spec!r}"):
                for i, (doc, resp) in enumerate(zip(docs, filtered)):
                    out.append({"filtered": resp, "metrics": self._process(doc, resp, i)})
        finally:
            random.setstate(state)  # the caller's random stream is left as it was
        return out

    def _process(self, doc: dict, resp: Any, row: int) -> dict[str, Any]:
        # Some task code draws random values (IFEval's checkers do when a kwarg is 0 or "", and
        # langdetect is random): seeding per row makes a completion's score not depend on the
        # batch it came in, so equal completions get equal rewards.
        random.seed(0)
        langdetect.DetectorFactory.seed = 0
        try:
            return self.task.process_results(doc, [resp])
        except Exception as exc:  # the task's own code: report which row broke it
            raise SourceError(self.name, f"task {self.task_spec!r} process_results failed on row {row}: {type(exc).__name__}: {exc}") from None

    def apply_filters(self, completions: list[str], docs: list[dict]) -> list[Any]:
        """The task's filter ensemble over one response per doc, exactly as FilterEnsemble.apply runs it."""
        resps: Any = [[c] for c in completions]
        for make_filter in self.filter.filters:
            resps = make_filter().apply(resps, docs)
        resps = list(resps)
        if len(resps) != len(completions):
            raise SourceError(self.name, f"filter {self.filter.name!r} returned {len(resps)} responses for {len(completions)}")
        return resps

    def _docs(self, columns: dict[str, list[Any]], n: int) -> list[dict]:
        if self.doc_column not in columns:
            raise SourceError(
                self.name,
                f"needs a {self.doc_column!r} column with each row's lm-eval doc (the 'lm-eval:' prompt set provides it); "
                f"columns given: {', '.join(sorted(columns)) or 'none'}",
            )
        docs = list(columns[self.doc_column])
        if len(docs) != n:
            raise SourceError(self.name, f"column {self.doc_column!r} has {len(docs)} values for {n} completions")
        return [self._doc(d, i) for i, d in enumerate(docs)]

    def _doc(self, doc: Any, row: int) -> dict:
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except json.JSONDecodeError as exc:
                raise SourceError(self.name, f"row {row}: column {self.doc_column!r} is not a JSON object: {exc}") from None
        if not isinstance(doc, dict):
            raise SourceError(self.name, f"row {row}: column {self.doc_column!r} holds {type(doc).__name__}, not a doc dict")
        return doc

    def _value(self, result: dict[str, Any], row: int) -> float | None:
        metrics = result["metrics"]
        if self.metric not in metrics:
            raise SourceError(self.name, f"row {row}: process_results gave no {self.metric!r} (gave {', '.join(metrics)})")
        return per_sample_value(metrics[self.metric], self.metric, self.name)


def per_sample_value(value: Any, metric: str, source: str) -> float | None:
    """A metric's per-sample value as a float: bools and numbers as they are, a list of per-item
    verdicts (IFEval's ``inst_level_*``) as its mean; None and NaN as "not scored"."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, (bool, int, float)) for v in value):
            raise SourceError(source, f"metric {metric!r} is aggregated over the corpus (per-sample value {value!r:.80}); pick a per-sample metric")
        return sum(float(v) for v in value) / len(value) if value else None
    if isinstance(value, (bool, int, float)):
        value = float(value)
        return None if math.isnan(value) else value
    raise SourceError(source, f"metric {metric!r} has a non-numeric per-sample value of type {type(value).__name__}")
