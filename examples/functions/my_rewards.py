"""Plain reward functions, the way TRL and verl users already write them: no rlit import, no
plugin packaging. examples/functions/reward.toml names them with `function = "my_rewards.py:..."`.
"""

import re


def brevity(prompts, completions, max_words=50, **kwargs):
    """TRL style: one call per batch, one float (or None) per completion."""
    return [1.0 if len(c.split()) <= max_words else max_words / len(c.split()) for c in completions]


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl style: one call per row; a dict's `score` is the value, its other keys are details."""
    numbers = re.findall(r"-?\d+(?:\.\d+)?", solution_str)
    answer = numbers[-1] if numbers else None
    return {"score": 1.0 if answer == str(ground_truth).strip() else 0.0, "extracted": answer}
