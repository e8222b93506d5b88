"""Scoring a JSONL file with a composite reward, streaming in batches (what ``rlit score`` runs).

Input rows are JSON objects with ``prompt`` and ``completion`` (strings, or TRL-style message
lists) plus any other columns, which are passed to the sources as keyword lists. Each output row
is the input row plus ``scores`` (raw score per source, null = no score) and ``reward`` (the
total, null when no source scored the row). Output is flushed after every batch, so the rows
already written stay valid if a later line is malformed or the run is interrupted; ``resume``
skips the rows an earlier run wrote.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from rlit.errors import DataError
from rlit.rewards.composite import CompositeReward, RewardResult
from rlit.rewards.source import as_text, prompt_text

Row = tuple[int, dict[str, Any]]  # (line number, parsed object)


def read_batches(path: str | Path, batch_size: int, required: dict[str, str] | None = None, skip: int = 0,
                 on_bytes: Callable[[int], None] | None = None) -> Iterator[list[Row]]:
    """Yield batches of (line, row); a malformed line or a missing column raises ``DataError``
    naming ``file:line`` when the reader reaches it (earlier batches have been yielded by then)."""
    need = {"prompt": "rlit score", "completion": "rlit score", **(required or {})}
    batch: list[Row] = []
    seen = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if on_bytes:
                on_bytes(len(raw))
            if not raw.strip():
                continue
            seen += 1
            if seen <= skip:
                continue
            try:
                batch.append((lineno, _parse_line(path, lineno, raw, need)))
            except DataError:
                if batch:  # score and write the good rows before the bad line first
                    yield batch
                raise
            if len(batch) >= batch_size:
                yield batch
                batch = []
    if batch:
        yield batch


def _parse_line(path: str | Path, lineno: int, raw: bytes, need: dict[str, str]) -> dict[str, Any]:
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
    for col, who in need.items():
        if col not in row:
            raise DataError(f"{path}:{lineno}: missing column {col!r} (needed by {who})")
    for col in ("prompt", "completion"):
        if not isinstance(row[col], (str, list)):
            raise DataError(f"{path}:{lineno}: column {col!r} must be a string or a list of messages, got {type(row[col]).__name__}")
    return row


def batch_columns(rows: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[str, list[Any]]]:
    """Prompts, completions and the other columns (a row without a column gives None there)."""
    names = sorted({k for r in rows for k in r} - {"prompt", "completion"})
    columns = {k: [r.get(k) for r in rows] for k in names}
    return [prompt_text(r["prompt"]) for r in rows], [as_text(r["completion"]) for r in rows], columns


@dataclass
class _Running:
    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, values: list[float]) -> None:
        for v in values:
            if not math.isnan(v):
                self.count, self.total, self.squares = self.count + 1, self.total + v, self.squares + v * v

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    @property
    def std(self) -> float | None:
        if not self.count:
            return None
        return math.sqrt(max(self.squares / self.count - (self.total / self.count) ** 2, 0.0))


@dataclass
class ScoreSummary:
    """Statistics over every row scored in a run, per source and for the total."""

    rows: int = 0
    skipped: int = 0  # rows an earlier run had written (resume)
    total: _Running = field(default_factory=_Running)
    scores: dict[str, _Running] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    abs_contribution: dict[str, float] = field(default_factory=dict)
    failed_batches: dict[str, int] = field(default_factory=dict)
    n_unscored: int = 0
    n_vetoed: int = 0

    def add(self, res: RewardResult) -> None:
        self.rows += len(res.total)
        self.total.add(res.total)
        self.n_unscored += sum(math.isnan(t) for t in res.total)
        self.n_vetoed += sum(v is not None for v in res.vetoed_by)
        for name, values in res.per_source.items():
            self.scores.setdefault(name, _Running()).add(values)
            weight = self.weights[name] = res.stats[name]["weight"]
            contrib = sum(abs(weight * z) for z in res.normalized[name] if not math.isnan(z))
            self.abs_contribution[name] = self.abs_contribution.get(name, 0.0) + contrib
            self.failed_batches[name] = self.failed_batches.get(name, 0) + (1 if res.stats[name]["errors"] else 0)

    def as_dict(self) -> dict[str, Any]:
        everyone = sum(self.abs_contribution.values())
        sources = {
            name: {
                "mean": r.mean, "std": r.std, "n_scored": r.count, "weight": self.weights[name],
                "share": self.abs_contribution[name] / everyone if everyone > 0 else 0.0,
                "failed_batches": self.failed_batches[name],
            }
            for name, r in self.scores.items()
        }
        return {
            "rows": self.rows, "skipped": self.skipped, "total_mean": self.total.mean, "total_std": self.total.std,
            "n_unscored": self.n_unscored, "n_vetoed": self.n_vetoed, "sources": sources,
        }


def output_row(row: dict[str, Any], res: RewardResult, i: int) -> dict[str, Any]:
    scores = {name: (None if math.isnan(v[i]) else v[i]) for name, v in res.per_source.items()}
    total = res.total[i]
    return {**row, "scores": scores, "reward": None if math.isnan(total) else total}


def count_written_rows(path: str | Path) -> int:
    """Complete rows in an earlier output file; a torn last line (interrupted write) is cut off."""
    p = Path(path)
    if not p.exists():
        return 0
    data = p.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]
    if len(keep) != len(data):
        p.write_bytes(keep)
    return sum(1 for line in keep.splitlines() if line.strip())


def score_jsonl(reward: CompositeReward, input_path: str | Path, output_path: str | Path | None = None,
                batch_size: int = 64, resume: bool = False, on_progress: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Score ``input_path`` batch by batch, appending rows to ``output_path`` (flushed per batch).

    ``on_progress(bytes_read, rows_scored)`` is called as the file is read and after each batch.
    """
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    if not Path(input_path).is_file():
        raise DataError(f"{input_path}: input file not found")
    summary = ScoreSummary()
    summary.skipped = count_written_rows(output_path) if (resume and output_path) else 0
    progress = {"bytes": 0}

    def on_bytes(n: int) -> None:
        progress["bytes"] += n

    if output_path:
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    out = open(output_path, "a" if resume else "w", encoding="utf-8") if output_path else None
    try:
        for batch in read_batches(input_path, batch_size, reward.required_columns, summary.skipped, on_bytes):
            rows = [r for _, r in batch]
            prompts, completions, columns = batch_columns(rows)
            res = reward.score_batch(prompts, completions, **columns)
            summary.add(res)
            if out is not None:
                out.write("".join(json.dumps(output_row(r, res, i), ensure_ascii=False) + "\n" for i, r in enumerate(rows)))
                out.flush()
            if on_progress:
                on_progress(progress["bytes"], summary.rows)
    finally:
        if out is not None:
            out.close()
    return summary
