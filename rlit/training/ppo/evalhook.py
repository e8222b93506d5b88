"""The periodic held-out evaluation: the eval suite's own ``evaluate()`` on the in-memory policy."""

from __future__ import annotations

from typing import Any

from rlit.training.ppo.config import EvalConfig


def run_eval(cfg: EvalConfig, model: Any, tokenizer: Any) -> dict[str, Any] | None:
    """Evaluate the policy on ``cfg.suite``; None when no suite is configured.

    Returns {"values": {eval: score}, "metric": name, "value": score, "higher_is_better": bool,
    "verdict": ..., "errors": {...}}; generation is not cached (the weights change every step).
    """
    if not cfg.suite:
        return None
    from rlit.evaluation import evaluate

    was_training = model.training
    model.eval()
    try:
        res = evaluate(cfg.suite, model=model, tokenizer=tokenizer, limit=cfg.limit, cache_dir=None, progress=False)
    finally:
        model.train(was_training)
    values = res.values
    metric = cfg.metric or next(iter(values), None)
    record = res.evals.get(metric, {}) if metric else {}
    return {
        "values": values, "metric": metric, "value": values.get(metric) if metric else None,
        "higher_is_better": bool(record.get("higher_is_better", True)), "verdict": res.verdict, "errors": res.errors,
    }
