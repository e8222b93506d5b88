"""rlit's composite reward as verl's custom reward function.

verl config (0.9.1)::

    reward:
      custom_reward_function:
        path: pkg://rlit.integrations.verl
        name: compute_score            # or compute_score_async
        reward_kwargs:
          config: reward.toml          # the rlit reward config

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)``
once per sample, from a thread pool (sync) or its event loop (async). The composite is built once
per process and config file; every call goes through one ``MicroBatcher``, so concurrent samples
are scored together on one thread (sources are not thread-safe, and a batch is cheaper).

The reply is ``{"score": total, "<source>": raw score, ...}``; verl logs the extra keys as
``reward_extra_info``. A sample no source scored has no reward: that is an error naming the
reasons, unless ``unscored_value`` is set (then that value is its score).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from rlit.errors import DataError
from rlit.plugins import load_reward
from rlit.rewards.batch import RewardBatch
from rlit.serving.batcher import MicroBatcher
from rlit.serving.protocol import Rows, label_columns

_lock = threading.Lock()
_batchers: dict[str, MicroBatcher] = {}


def batcher_for(config: str | Path, max_rows: int = 256, max_wait_ms: float = 2.0) -> MicroBatcher:
    """The process's scorer for ``config`` (built on first use, then reused)."""
    key = str(Path(config).resolve())
    with _lock:  # verl's threads may all arrive at once: build the composite once
        if key not in _batchers:
            _batchers[key] = MicroBatcher(load_reward(config), max_rows, max_wait_ms / 1000)
        return _batchers[key]


def sample_rows(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any,
                ground_truth_column: str = "ground_truth", prompt_key: str = "prompt") -> Rows:
    """One verl sample as one rlit row. Columns: ``data_source``, ``extra_info``, and the ground
    truth as ``ground_truth_column`` (a dict ground truth gives one column per key, as OpenRLHF
    labels do). The prompt is ``extra_info[prompt_key]`` when it is text, else empty."""
    info = extra_info if isinstance(extra_info, dict) else {}
    prompt = info.get(prompt_key)
    columns = {"data_source": data_source, "extra_info": extra_info, **label_columns(ground_truth, ground_truth_column)}
    return Rows([prompt if isinstance(prompt, str) else ""], [str(solution_str)], {k: [v] for k, v in columns.items()})


def verl_reply(scored: RewardBatch, unscored_value: float | None) -> dict[str, Any]:
    """``{"score": total, "<source>": raw, ...}``; a source key named "score" is logged as "source:score"."""
    total = scored.total[0]
    if not scored.scored[0]:
        if unscored_value is None:
            why = "; ".join(f"{k}: {v}" for k, v in scored.row(0)["unscored"].items()) or "every source returned None"
            raise DataError(f"rlit.integrations.verl: no reward source scored this sample ({why}); "
                            "set reward_kwargs.unscored_value to give such samples a fixed score")
        total = float(unscored_value)
    reply: dict[str, Any] = {"score": float(total)}
    for name, values in scored.per_source.items():
        reply["source:score" if name == "score" else name] = float(values[0])  # NaN: verl averages, nulls break it
    return reply


def compute_score(data_source: Any = None, solution_str: str = "", ground_truth: Any = None, extra_info: Any = None, *,
                  config: str, unscored_value: float | None = None, ground_truth_column: str = "ground_truth",
                  prompt_key: str = "prompt", max_batch_rows: int = 256, max_wait_ms: float = 2.0, **_: Any) -> dict[str, Any]:
    """verl's per-sample reward (sync). Extra keywords verl passes (e.g. ``reward_router_address``)
    are ignored; the rest come from ``reward_kwargs``."""
    rows = sample_rows(data_source, solution_str, ground_truth, extra_info, ground_truth_column, prompt_key)
    scored = batcher_for(config, max_batch_rows, max_wait_ms).submit(rows).result()
    return verl_reply(scored, unscored_value)


async def compute_score_async(data_source: Any = None, solution_str: str = "", ground_truth: Any = None, extra_info: Any = None, *,
                              config: str, unscored_value: float | None = None, ground_truth_column: str = "ground_truth",
                              prompt_key: str = "prompt", max_batch_rows: int = 256, max_wait_ms: float = 2.0, **_: Any) -> dict[str, Any]:
    """The same as ``compute_score``, awaited: verl's reward loop runs async functions on its
    event loop without a thread per sample, and concurrent samples still share one batch."""
    rows = sample_rows(data_source, solution_str, ground_truth, extra_info, ground_truth_column, prompt_key)
    scored = await asyncio.wrap_future(batcher_for(config, max_batch_rows, max_wait_ms).submit(rows))
    return verl_reply(scored, unscored_value)
