"""The step log: one JSON line per step in ``<run>/steps.jsonl``, plus the console line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rlit.jsonl import json_safe

TIMING_KEYS = ("time/", "tokens_per_s", "wall")


class StepLog:
    """Appends step records; on resume it first drops lines after the checkpoint's step."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            path.write_text("")
        else:
            self.truncate_after(resume_step)

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut by the kill: drop it and everything after
            if rec.get("step", 0) > step:
                break
            kept.append(line)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(l + "\n" for l in kept))
        tmp.replace(self.path)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(json_safe(record)) + "\n")
            fh.flush()


def read_steps(path: Path) -> list[dict[str, Any]]:
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def without_timings(record: dict[str, Any]) -> dict[str, Any]:
    """A step record minus wall-clock fields: what must match between a resumed and a straight run."""
    return {k: v for k, v in record.items() if not k.startswith(TIMING_KEYS)}


def console_line(rec: dict[str, Any]) -> str:
    """One compact line: reward, per-source means and shares, KL, entropy, clip fractions, speed."""
    parts = [f"step {rec['step']}", f"reward {_fmt(rec.get('reward/total'))}"]
    for name, s in rec.get("reward/sources", {}).items():
        parts.append(f"{name} {_fmt(s.get('mean'))} ({_fmt(100 * s['share'] if s.get('share') is not None else None, 0)}%)")
    parts += [
        f"kl {_fmt(rec.get('objective/kl'))}", f"ent {_fmt(rec.get('policy/entropy'))}",
        f"clip {_fmt(rec.get('policy/clipfrac'), 2)}/{_fmt(rec.get('value/clipfrac'), 2)}",
        f"vloss {_fmt(rec.get('loss/value'))}", f"{_fmt(rec.get('tokens_per_s'), 0)} tok/s",
        f"{_fmt(rec.get('time/step'), 2)}s",
    ]
    return "  ".join(parts)


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"
