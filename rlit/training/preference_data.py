"""Preference pairs on disk: JSONL rows with ``chosen``, ``rejected`` and an optional ``prompt``.

This is TRL's preference format for plain text. ``.jsonl.gz`` files are read as well. Errors name
the file and line. Also: the held-out split and the data hash recorded in manifests. (How a prompt
and a completion become one text to score is the folder format's: rlit.lm.reward_model.join_text.)
"""

from __future__ import annotations

import gzip
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from rlit.errors import DataError
from rlit.jsonl import parse_json_line


@dataclass(frozen=True)
class Pair:
    """One preference: ``chosen`` is preferred over ``rejected`` as an answer to ``prompt``."""

    chosen: str
    rejected: str
    prompt: str = ""


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def read_pairs(path: str | Path, limit: int | None = None, drop_identical: bool = False) -> list[Pair]:
    """Every pair in a JSONL(.gz) file; a DataError names file:line for any malformed row.

    A pair whose chosen and rejected texts are the same (after stripping whitespace) teaches a
    reward model nothing and hides a data bug, so it is a DataError naming the line, unless
    ``drop_identical``: then it is dropped and counted (:func:`read_pairs_counted`).
    """
    return read_pairs_counted(path, limit, drop_identical)[0]


def read_pairs_counted(path: str | Path, limit: int | None = None, drop_identical: bool = False) -> tuple[list[Pair], int]:
    """(pairs, identical pairs dropped); see :func:`read_pairs`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: preference file not found")
    pairs: list[Pair] = []
    dropped = 0
    try:
        with _open_text(p) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                pair = _parse_row(line, f"{p}:{lineno}")
                if pair.chosen.strip() == pair.rejected.strip():
                    if not drop_identical:
                        raise DataError(f"{p}:{lineno}: 'chosen' and 'rejected' are the same text; fix the row, "
                                        "or set drop_identical = true to drop such pairs (they are counted)")
                    dropped += 1
                    continue
                pairs.append(pair)
                if limit is not None and len(pairs) >= limit:
                    break
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text (byte {exc.start} of a line)") from None
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
        raise DataError(f"{p}: cannot read: {exc}") from None
    if not pairs:
        extra = f" ({dropped} identical pairs dropped)" if dropped else ""
        raise DataError(f"{p}: no preference pairs (expected JSONL rows with 'chosen' and 'rejected'){extra}")
    return pairs, dropped


def _parse_row(line: str, where: str) -> Pair:
    row = parse_json_line(line, where)
    for key in ("chosen", "rejected"):
        if key not in row:
            raise DataError(f"{where}: missing column {key!r} (columns: {', '.join(row) or 'none'})")
    values = {}
    for key in ("chosen", "rejected", "prompt"):
        value = row.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise DataError(f"{where}: column {key!r} must be a string (conversational pairs: apply the chat template first), got {type(value).__name__}")
        values[key] = value
    return Pair(values["chosen"], values["rejected"], values["prompt"])


def split_common_prefix(pair: Pair) -> Pair:
    """A pair without a prompt, split at the longest common prefix of chosen and rejected, cut back
    to just after whitespace so no word is split; pairs that already have a prompt are unchanged.

    For hh-rlhf the prefix is the conversation up to the final "Assistant:" turn.
    """
    if pair.prompt:
        return pair
    c, r = pair.chosen, pair.rejected
    n = 0
    limit = min(len(c), len(r))
    while n < limit and c[n] == r[n]:
        n += 1
    while n > 0 and not c[n - 1].isspace():
        n -= 1
    prompt = c[:n].rstrip()
    return Pair(c[n:], r[n:], prompt) if prompt else pair


def file_hash(path: str | Path) -> str:
    """sha256 of a file's bytes (first 16 hex digits): the data hash in manifests."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def split_pairs(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out): a seeded shuffle, the last ``eval_fraction`` held out (at least one pair each)."""
    if not 0.0 < eval_fraction < 1.0:
        raise DataError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    if len(pairs) < 2:
        raise DataError(f"need at least 2 pairs to hold some out, got {len(pairs)}")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(pairs) - 1, max(1, round(len(pairs) * eval_fraction)))
    held = set(order[-n_eval:])
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def pairwise_accuracy(chosen_scores: list[float], rejected_scores: list[float]) -> float:
    """Share of pairs where the chosen answer scores strictly higher (ties count as wrong)."""
    if not chosen_scores:
        return float("nan")
    return sum(c > r for c, r in zip(chosen_scores, rejected_scores)) / len(chosen_scores)
