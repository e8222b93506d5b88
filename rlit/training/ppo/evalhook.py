"""The periodic held-out evaluation: the eval suite's own ``evaluate()`` on the in-memory policy."""

from __future__ import annotations

from typing import Any

from rlit.evaluation import evaluate
from rlit.evaluation.results import SuiteSummary
from rlit.training.ppo.config import EvalConfig


class PolicyEval(SuiteSummary):
    """One periodic evaluation of the policy: the suite's summary, the step, and the metric the
    reward-hacking watch and ``keep_best`` follow (``value``, ``higher_is_better``)."""

    step: int = 0
    metric: str | None = None
    value: float | None = None
    higher_is_better: bool = True
    warnings: list[str] = []


def run_eval(cfg: EvalConfig, model: Any, tokenizer: Any) -> PolicyEval | None:
    """Evaluate the policy on ``cfg.suite``; None when no suite is configured. Generation is not
    cached (the weights change every step)."""
    if not cfg.suite:
        return None
    was_training = model.training
    model.eval()
    try:
        res = evaluate(cfg.suite, model=model, tokenizer=tokenizer, limit=cfg.limit, cache_dir=None, progress=False)
    finally:
        model.train(was_training)
    metric = cfg.metric or next(iter(res.evals), None)
    record = res.evals.get(metric) if metric else None
    return PolicyEval(**res.summary().model_dump(), metric=metric, value=record.value if record else None,
                      higher_is_better=record is None or record.higher_is_better is not False)
