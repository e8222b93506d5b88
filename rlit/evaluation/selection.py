"""Which rows ``--limit N`` keeps: a deterministic subset on which every eval still has data.

Taking the first N rows of a file sorted by category (as the project's red-team set is) can
leave a breakdown with one category, or a counterfactual aggregate (``group_gap``) with no group
of two rows, and the run "could not evaluate". Instead rows are taken in *units* (all rows of
one counterfactual group together, or a single row), round-robin over categories (the ``by``
column), in file order within each category, while the units fit in N. For ``group_gap`` only
groups of two or more rows are candidates (a lone row adds nothing to a gap).
"""

from __future__ import annotations

from typing import Any


def select_rows(rows: list[dict[str, Any]], limit: int | None, group: str | None = None, by: str | None = None,
                groups_only: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``(rows kept, how)``; rows keep their file order. ``how`` is None when nothing was dropped."""
    if limit is None or limit >= len(rows):
        return rows, None
    units = _units(rows, group)
    if groups_only and any(len(u) > 1 for u in units):
        units = [u for u in units if len(u) > 1]
    picked = _round_robin(units, rows, by, limit)
    keep = sorted(i for u in picked for i in u)
    how = {"limit": limit, "n": len(keep), "method": _describe(group, by, groups_only),
           "keys": [str(rows[i].get("key")) for i in keep]}
    return [rows[i] for i in keep], how


def _units(rows: list[dict[str, Any]], group: str | None) -> list[list[int]]:
    """Row indices grouped by the group column (file order of first appearance); no group = alone."""
    units: list[list[int]] = []
    index: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        g = row.get(group) if group else None
        if g is None:
            units.append([i])
        elif str(g) in index:
            index[str(g)].append(i)
        else:
            index[str(g)] = [i]
            units.append(index[str(g)])
    return units


def _round_robin(units: list[list[int]], rows: list[dict[str, Any]], by: str | None, limit: int) -> list[list[int]]:
    queues: dict[str, list[list[int]]] = {}
    for u in units:
        queues.setdefault(str(rows[u[0]].get(by)) if by else "", []).append(u)
    picked: list[list[int]] = []
    budget = limit
    while budget > 0 and any(queues.values()):
        for q in queues.values():
            while q and len(q[0]) > budget:  # a group too big for what is left: try this category's next
                q.pop(0)
            if q and budget > 0:
                budget -= len(q[0])
                picked.append(q.pop(0))
    if not picked and units:  # every unit is bigger than the limit: part of the first one
        picked = [units[0][:limit]]
    return picked


def _describe(group: str | None, by: str | None, groups_only: bool) -> str:
    parts = [f"round-robin over {by!r}" if by else "file order"]
    if group:
        parts.append(f"whole {group!r} groups" + (" of two or more rows only" if groups_only else ""))
    return ", ".join(parts)
