"""Scoring a JSONL file with a composite reward, streaming in batches (what ``rlit score`` runs).

Input rows are JSON objects with ``prompt`` and ``completion`` (strings, or TRL-style message
lists) plus any other columns, which are passed to the sources as keyword lists. Each output row
is the input row plus ``scores`` (raw score per source, null = no score), ``reward`` (the total,
null when no source scored the row), ``unscored`` (source -> why it gave no score) and
``vetoed_by`` (the source whose veto set the total, or null).

The output cannot half-happen: rows stream into ``<output>.part`` (flushed per batch), which is
renamed to the output only when every row is scored. An error or an interrupt leaves the
``.part``; ``resume`` checks each kept row against the input row it came from (a different or
edited input is an error naming the kept line) and continues after them.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from rlit import atomic, interrupts
from rlit.errors import DataError, RlitError
from rlit.jsonl import parse_json_line
from rlit.rewards.batch import RewardBatch, optional
from rlit.rewards.composite import CompositeReward
from rlit.rewards.trl import as_text, prompt_text

# The keys rlit adds to an input row; everything else in an output row is the input row.
ADDED_KEYS = ("scores", "reward", "unscored", "vetoed_by")

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
    """One input row, or a DataError naming ``file:line`` (the one check of ``rlit score``'s rows)."""
    where = f"{path}:{lineno}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text ({exc.reason})") from None
    row = parse_json_line(text, where)  # invalid JSON, not an object, lone surrogates
    for col, who in need.items():
        if col not in row:
            raise DataError(f"{where}: missing column {col!r} (needed by {who})")
    for col in ("prompt", "completion"):
        check_turns(where, col, row[col])
    return row


def check_turns(where: str, col: str, value: Any) -> None:
    """A prompt or completion is a string or a list of chat messages (objects with a string
    ``role`` and a string or list ``content``); anything else would be scored as its repr."""
    if isinstance(value, str):
        return
    if not isinstance(value, list):
        raise DataError(f"{where}: column {col!r} must be a string or a list of messages, got {type(value).__name__}")
    for j, m in enumerate(value):
        ok = isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), (str, list))
        if not ok:
            raise DataError(f"{where}: column {col!r}: item {j} is not a message "
                            f"(an object with a string 'role' and a string or list 'content'): {json.dumps(m)[:60]}")


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

    def add(self, values: list[float | None]) -> None:
        for v in values:
            if v is not None:
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
    unscored: dict[str, Counter] = field(default_factory=dict)  # source -> reason -> rows
    cached: dict[str, int] = field(default_factory=dict)  # source -> scores read from the cache
    computed: dict[str, int] = field(default_factory=dict)  # source -> scores the source computed
    n_unscored: int = 0
    n_vetoed: int = 0

    def add(self, res: RewardBatch) -> None:
        self.rows += len(res.total)
        self.total.add(res.rewards())
        self.n_unscored += res.scored.count(False)
        self.n_vetoed += sum(v is not None for v in res.vetoed_by)
        weighted = res.weighted_matrix
        for k, (name, values) in enumerate(res.per_source.items()):
            st = res.stats[name]
            self.scores.setdefault(name, _Running()).add(optional(values))
            self.weights[name] = st["weight"]
            contrib = float(np.nansum(np.abs(weighted[k])))
            self.abs_contribution[name] = self.abs_contribution.get(name, 0.0) + contrib
            self.failed_batches[name] = self.failed_batches.get(name, 0) + (1 if st["errors"] else 0)
            self.unscored.setdefault(name, Counter()).update(st.get("unscored", {}))
            self.cached[name] = self.cached.get(name, 0) + st.get("n_cached", 0)
            self.computed[name] = self.computed.get(name, 0) + st.get("n_computed", 0)

    def as_dict(self) -> dict[str, Any]:
        everyone = sum(self.abs_contribution.values())
        sources = {
            name: {
                "mean": r.mean, "std": r.std, "n_scored": r.count, "weight": self.weights[name],
                "share": self.abs_contribution[name] / everyone if everyone > 0 else 0.0,
                "failed_batches": self.failed_batches[name],
                "n_unscored": sum(self.unscored[name].values()),
                "unscored": dict(self.unscored[name].most_common()),  # reason -> rows, most frequent first
                "from_cache": self.cached[name], "computed": self.computed[name],
            }
            for name, r in self.scores.items()
        }
        return {
            "rows": self.rows, "skipped": self.skipped, "total_mean": self.total.mean, "total_std": self.total.std,
            "n_unscored": self.n_unscored, "n_vetoed": self.n_vetoed,
            "scores_from_cache": sum(self.cached.values()), "scores_computed": sum(self.computed.values()),
            "sources": sources,
        }


def output_row(row: dict[str, Any], res: RewardBatch, i: int) -> dict[str, Any]:
    """The input row plus what rlit adds (``ADDED_KEYS``): raw scores, total, why unscored, veto."""
    return {**row, **res.row(i)}


def part_path(output: str | Path) -> Path:
    """Where rows stream until the run completes (then renamed to ``output``)."""
    return Path(f"{output}.part")


def check_paths(input_path: str | Path, output: str | Path | None = None, summary_json: str | Path | None = None,
                config: str | Path | None = None) -> None:
    """Before any work: no output may be an input (or another output), and every output must be
    writable. A ConfigError names the option."""
    inputs = {"--input": input_path, "--config": config if isinstance(config, (str, Path)) else None}
    outputs = {"--output": output, "--output's partial file": part_path(output) if output else None, "--summary-json": summary_json}
    atomic.refuse_same_file(inputs, outputs)
    atomic.refuse_same_file({"--output": output}, {"--summary-json": summary_json})
    if output:
        atomic.check_writable(output, "--output")
        atomic.check_writable(part_path(output), "--output's partial file")
    if summary_json:
        atomic.check_writable(summary_json, "--summary-json")


def kept_rows(kept: Path, input_path: str | Path, sources: list[str]) -> tuple[int, int]:
    """Check the rows of an earlier output (or ``.part``) against the input rows they came from;
    return (rows, bytes) of the complete rows (a torn last line from an interrupted write is left
    out). A kept row that differs from its input row is a DataError naming the kept file and line."""
    data = kept.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    n = 0
    with open(input_path, "rb") as f:
        inputs = ((ln, raw) for ln, raw in enumerate(f, 1) if raw.strip())
        for out_ln, out_raw in enumerate(whole.splitlines(), 1):
            if not out_raw.strip():
                continue
            where = f"{kept}:{out_ln}"
            nxt = next(inputs, None)
            if nxt is None:
                raise DataError(f"{where}: kept row has no input row in {input_path} (the output holds more rows than the input): rerun without --resume")
            _check_kept(where, out_raw, f"{input_path}:{nxt[0]}", nxt[1], sources)
            n += 1
    return n, len(whole)


def _check_kept(where: str, out_raw: bytes, input_where: str, in_raw: bytes, sources: list[str]) -> None:
    again = "rerun without --resume to score the input afresh"
    try:
        out = json.loads(out_raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{where}: kept line is not JSON ({getattr(exc, 'msg', exc)}); {again}") from None
    if not isinstance(out, dict) or not isinstance(out.get("scores"), dict):
        raise DataError(f"{where}: kept line is not a row rlit score wrote (no 'scores'); {again}")
    try:
        given = json.loads(in_raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        given = None
    if not isinstance(given, dict) or _input_part(out) != _input_part(given):
        raise DataError(f"{where}: kept row does not match {input_where} (a different or edited input); {again}")
    if sorted(out["scores"]) != sorted(sources):
        raise DataError(f"{where}: kept row was scored by sources {', '.join(sorted(out['scores'])) or 'none'}, "
                        f"this reward config has {', '.join(sorted(sources))}; {again}")


def _input_part(row: dict[str, Any]) -> str:
    # Canonical JSON (NaN spelled out, keys sorted), so equal rows compare equal after a round trip.
    return json.dumps({k: v for k, v in row.items() if k not in ADDED_KEYS}, sort_keys=True, ensure_ascii=False)


def score_jsonl(reward: CompositeReward, input_path: str | Path, output_path: str | Path | None = None,
                batch_size: int = 64, resume: bool = False, on_progress: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Score ``input_path`` batch by batch into ``<output_path>.part`` (flushed per batch), renamed
    to ``output_path`` at the end; ``resume`` checks and continues an earlier ``.part`` (or output).

    ``on_progress(bytes_read, rows_scored)`` is called as the file is read and after each batch.
    """
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    if not Path(input_path).is_file():
        what = "is a folder, not a file" if Path(input_path).is_dir() else "input file not found"
        raise DataError(f"{input_path}: {what}")
    summary = ScoreSummary()
    if output_path is None:
        _score_batches(reward, input_path, None, batch_size, summary, on_progress)
        return summary
    check_paths(input_path, output_path)
    part = part_path(output_path)
    summary.skipped = _start_part(part, Path(output_path), input_path, reward, resume)
    note = lambda: f"{summary.skipped + summary.rows} row(s) scored so far are kept in {part}"  # noqa: E731
    try:
        with open(part, "a", encoding="utf-8") as out, interrupts.keeping(lambda: f"{note()}; rerun the same command with --resume"):
            _score_batches(reward, input_path, out, batch_size, summary, on_progress)
            out.flush()
            os.fsync(out.fileno())
    except RlitError as exc:
        if summary.skipped + summary.rows:  # say where the work went and how to continue it
            exc.args = (f"{exc} ({note()}: fix the cause and rerun with --resume)",)
        raise
    os.replace(part, output_path)
    return summary


def _start_part(part: Path, output: Path, input_path: str | Path, reward: CompositeReward, resume: bool) -> int:
    """Prepare ``part`` for appending; return how many rows it already holds."""
    sources = [e.name for e in reward.entries]
    if not resume:
        part.write_bytes(b"")
        return 0
    if part.exists():
        n, size = kept_rows(part, input_path, sources)
        with open(part, "r+b") as f:
            f.truncate(size)  # cut a line torn by the interrupt
        return n
    if output.exists():  # a complete (or older-style) output: continue from a copy, so it stays intact
        n, size = kept_rows(output, input_path, sources)
        with open(output, "rb") as src:
            part.write_bytes(src.read(size))
        return n
    part.write_bytes(b"")
    return 0


def _score_batches(reward: CompositeReward, input_path: str | Path, out: Any, batch_size: int, summary: ScoreSummary,
                   on_progress: Callable[[int, int], None] | None) -> None:
    progress = {"bytes": 0}

    def on_bytes(n: int) -> None:
        progress["bytes"] += n

    for batch in read_batches(input_path, batch_size, reward.required_columns, summary.skipped, on_bytes):
        rows = [r for _, r in batch]
        prompts, completions, columns = batch_columns(rows)
        res = reward.score_batch(prompts, completions, **columns)
        if out is not None:
            out.write("".join(json.dumps(output_row(r, res, i), ensure_ascii=False) + "\n" for i, r in enumerate(rows)))
            out.flush()  # the rows of every finished batch survive a crash
        summary.add(res)
        if on_progress:
            on_progress(progress["bytes"], summary.rows)
