"""The ``ifeval`` reward source: IFEval's 25 verifiable instructions, strict or loose."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import rlit
from rlit.errors import ConfigError, DataError, SourceError
from rlit.rewards.trl import as_text


MODES = ("strict", "loose")
_ROW_PREFIX = re.compile(r"^ifeval: row \d+[,:] ")  # a batch position means nothing in a row's reason
REWARDS = ("all", "fraction")


class IFEvalSource(rlit.RewardSource):
    """Checks a completion against the row's IFEval instructions (``instruction_id_list`` and
    ``kwargs`` columns). Score: 1/0 for all followed, or the fraction followed; None for rows
    without instructions; ``rlit.Unscorable`` naming the instruction and kwarg for a row whose
    instructions cannot be checked (unknown id, bad kwargs such as a letter that is not a-z),
    so one bad row of real IFEval data does not cost the batch. Large batches are scored by a
    pool of worker processes."""

    name = "ifeval"
    description = "IFEval verifiable instructions (lm-eval's checkers): all followed (0/1) or fraction followed"
    higher_is_better = True
    columns = ("instruction_id_list",)  # and optionally "kwargs"
    # details() give one verdict per instruction: evaluation aggregates them per instruction and
    # per instruction type (IFEval ids are "<type>:<name>").
    verdicts = rlit.Verdicts(key="followed", ids="instruction_id_list", group_separator=":")

    def __init__(self, mode: str = "strict", reward: str = "all", workers: int | None = None, parallel_min_rows: int = 256):
        """mode: strict | loose (IFEval's loose also tries the response without its first/last
        line and without '*'). reward: all (1 if every instruction is followed, else 0) |
        fraction (share of instructions followed). workers: processes for large batches
        (default min(2, CPU count); 1 = in-process). parallel_min_rows: smaller batches are
        scored in-process, since a pool round trip costs more than they do."""
        if mode not in MODES:
            raise ConfigError(f"ifeval: option 'mode' must be one of {', '.join(MODES)}, got {mode!r}")
        if reward not in REWARDS:
            raise ConfigError(f"ifeval: option 'reward' must be one of {', '.join(REWARDS)}, got {reward!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"ifeval: option 'workers' must be a positive integer, got {workers!r}")
        if not isinstance(parallel_min_rows, int) or parallel_min_rows < 1:
            raise ConfigError(f"ifeval: option 'parallel_min_rows' must be a positive integer, got {parallel_min_rows!r}")
        _checkers()  # fails here, with the install line, if NLTK's punkt_tab is missing
        self.mode = mode
        self.reward = reward
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self.parallel_min_rows = parallel_min_rows
        self._pool: ProcessPoolExecutor | None = None

    # -- scoring -----------------------------------------------------------------------------
    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        out: list[float | None | rlit.Unscorable] = []
        for item in self.evaluate(completions, **columns):
            if isinstance(item, rlit.Unscorable):
                out.append(item)
                continue
            verdicts = item[1]
            if not verdicts:
                out.append(None)
            elif self.reward == "all":
                out.append(1.0 if all(verdicts) else 0.0)
            else:
                out.append(sum(verdicts) / len(verdicts))
        return out

    def details(self, prompts: list[str], completions: list[str], **columns: Any) -> list[dict[str, Any]]:
        """Per row: ``{"instruction_id_list": [...], "followed": [bool, ...]}`` (empty lists for
        rows without instructions, plus ``"unscorable": reason`` for a row that cannot be
        checked), for instruction-level accuracy and per-type breakdowns."""
        out = []
        for item in self.evaluate(completions, **columns):
            if isinstance(item, rlit.Unscorable):
                out.append({"instruction_id_list": [], "followed": [], "unscorable": item.reason})
            else:
                out.append({"instruction_id_list": item[0], "followed": item[1]})
        return out

    def evaluate(self, completions: list[str], **columns: Any) -> list[tuple[list[str], list[bool]] | rlit.Unscorable]:
        """Per row: its instruction ids and whether each is followed (both empty: no
        instructions), or ``Unscorable`` for a row whose instructions cannot be checked."""
        payload = self._payload(completions, columns)
        todo = [p for p in payload if not isinstance(p, rlit.Unscorable) and p[0]]
        verdicts = iter(self._follow(todo))
        return [p if isinstance(p, rlit.Unscorable) else (list(p[0]), next(verdicts) if p[0] else []) for p in payload]

    def _payload(self, completions: list[str], columns: dict[str, Any]) -> list[tuple]:
        ids_column = self._ids_column(completions, columns)
        kwargs_column = columns.get("kwargs")
        if kwargs_column is not None and len(kwargs_column) != len(completions):
            raise DataError(f"ifeval: column 'kwargs' has {len(kwargs_column)} rows, completions {len(completions)}")
        payload: list[tuple | rlit.Unscorable] = []
        for row, (ids, completion) in enumerate(zip(ids_column, completions)):
            kwargs = kwargs_column[row] if kwargs_column is not None else None
            try:
                ids, kwargs = _checkers().parse_row(row, ids, kwargs)
            except DataError as exc:  # this row's data only: the rest of the batch is scored
                payload.append(rlit.Unscorable(_ROW_PREFIX.sub("", str(exc))))
                continue
            kwargs_json = tuple(json.dumps(k, sort_keys=True) for k in kwargs)
            payload.append((tuple(ids), kwargs_json, as_text(completion)))
        return payload

    @staticmethod
    def _ids_column(completions: list[str], columns: dict[str, Any]) -> list[Any]:
        if "instruction_id_list" not in columns:
            raise DataError(
                "ifeval: needs an 'instruction_id_list' column (and 'kwargs'), in IFEval's format; "
                f"got columns: {', '.join(sorted(columns)) or 'none'}"
            )
        ids_column = columns["instruction_id_list"]
        if len(ids_column) != len(completions):
            raise DataError(f"ifeval: column 'instruction_id_list' has {len(ids_column)} rows, completions {len(completions)}")
        return ids_column

    def _follow(self, rows: list[tuple]) -> list[list[bool]]:
        loose = self.mode == "loose"
        if self.workers == 1 or len(rows) < self.parallel_min_rows:
            return _checkers().follow_rows(rows, loose)
        # Several chunks per worker so that a slow chunk (long texts) does not idle the others.
        size = max(8, -(-len(rows) // (self.workers * 8)))
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
        try:
            results = list(self._executor().map(_checkers().follow_rows, chunks, [loose] * len(chunks)))
        except BrokenProcessPool as exc:
            self._pool = None  # the next batch starts a fresh pool
            raise SourceError(self.name, f"a worker process died ({exc}); set workers = 1 to score in-process") from exc
        return [verdicts for chunk in results for verdicts in chunk]

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            _checkers().warm_up()  # load once here, so that forked workers share the data
            # fork on Linux: workers inherit the imported checkers instead of re-importing
            # lm-eval (~3 s each); elsewhere fork is unsafe or missing, so spawn.
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context(method), initializer=_init_worker
            )
        return self._pool

    def close(self) -> None:
        """Stop the worker processes (they are also stopped at interpreter exit)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pool": None}  # copies and pickles start their own pool


def _checkers():
    """The checker module, imported on first use: importing it checks for punkt_tab first."""
    from rlit_rules import ifeval_checkers

    return ifeval_checkers


def _init_worker() -> None:
    """Set up a worker process (a no-op when forked; under spawn it imports the checkers)."""
    _checkers()
