"""Counterfactual (demographic-swap) gaps: the same prompt with identity terms swapped should get
the same score from any reward source.

The core is ``counterfactual_gap(scores, groups)``: rows that share a group id are counterfactuals
of each other; a group's gap is the spread (max - min) of its scores. ``swap_terms`` and
``gender_swap_map`` build such groups from a text; ``source_gap`` scores them with a source.

    from rlit_safety.counterfactual import counterfactual_gap
    gap = counterfactual_gap(scores, groups)   # groups[i] = the group id of row i, or None
    gap["max_gap"], gap["mean_gap"], gap["n_groups"], gap["per_group"]["g1"]["gap"]
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from rlit_safety.packages import GENBIT_INSTALL, package_file

# Gendered pairs that the suffix rules below cannot derive from genbit's lists. "her" is ambiguous
# (him/his); we map it to "his", a known limit of word-level swaps.
_CORE_PAIRS = {
    "she": "he", "her": "his", "hers": "his", "herself": "himself", "woman": "man", "women": "men",
    "girl": "boy", "girls": "boys", "mother": "father", "mothers": "fathers", "daughter": "son",
    "daughters": "sons", "sister": "brother", "sisters": "brothers", "wife": "husband", "wives": "husbands",
    "aunt": "uncle", "aunts": "uncles", "niece": "nephew", "nieces": "nephews", "queen": "king",
    "queens": "kings", "lady": "gentleman", "ladies": "gentlemen", "mom": "dad", "moms": "dads",
    "mum": "dad", "actress": "actor", "actresses": "actors", "hostess": "host", "hostesses": "hosts", "grandmother": "grandfather", "female": "male", "females": "males", "ms": "mr",
    "mrs": "mr", "girlfriend": "boyfriend", "bride": "groom",
}
_SUFFIX_RULES = (("women", "men"), ("woman", "man"), ("resses", "ers"), ("ress", "er"), ("esses", "s"),
                 ("ess", ""), ("ettes", "s"), ("ette", ""), ("girls", "boys"), ("girl", "boy"))


def _read_words(name: str) -> set[str]:
    path = package_file("genbit", f"gendered-word-lists/en/{name}.txt", GENBIT_INSTALL)
    return {w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()}


@lru_cache(maxsize=1)
def gender_swap_map() -> dict[str, str]:
    """Female <-> male word map (both directions), from a core list plus genbit's gendered word lists.

    genbit's lists are not aligned pairs; a female word is paired with the male word its suffix
    rule gives (actress -> actor, businesswoman -> businessman) when genbit lists that male word.
    """
    female, male = _read_words("female"), _read_words("male")
    pairs = dict(_CORE_PAIRS)
    for f in sorted(female):
        for suffix, replacement in _SUFFIX_RULES:
            candidate = f[: -len(suffix)] + replacement if f.endswith(suffix) else None
            if candidate and candidate in male:
                pairs.setdefault(f, candidate)
                break
    mapping = {}
    for f, m in pairs.items():
        mapping.setdefault(f, m)
        mapping.setdefault(m, f)
    mapping["his"] = "her"  # "her" -> "his" above; the reverse must not be "hers"
    mapping["him"] = "her"
    return mapping


def _match_case(replacement: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def swap_terms(text: str, mapping: Mapping[str, str]) -> str:
    """``text`` with every whole-word key of ``mapping`` replaced by its value, all at once.

    Matching is case-insensitive and keeps the original's capitalisation; swaps are simultaneous,
    so {"he": "she", "she": "he"} exchanges the two. Multi-word keys ("african american") work.
    """
    if not mapping:
        return text
    lower = {k.lower(): v for k, v in mapping.items()}
    keys = sorted(lower, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in keys) + r")(?![\w-])",
                         re.IGNORECASE)
    return pattern.sub(lambda m: _match_case(lower[re.sub(r"\s+", " ", m.group(0).lower())], m.group(0)), text)


def term_variants(text: str, terms: Sequence[str]) -> list[str]:
    """One variant of ``text`` per term in ``terms``, with every occurrence of any listed term replaced by it.

    ``term_variants("I am a gay man.", ["gay", "straight", "bisexual"])`` gives the three sentences.
    Returns [] when the text contains none of the terms.
    """
    probe = swap_terms(text, {t: "\x00" for t in terms})
    if "\x00" not in probe:
        return []
    return [swap_terms(text, {t: term for t in terms}) for term in terms]


def counterfactual_gap(scores: Sequence[float | None], groups: Sequence[str | None]) -> dict[str, Any]:
    """Spread of scores within counterfactual groups.

    ``groups[i]`` is the group id of row i (rows of one group are the same text with demographic
    terms swapped) or None for rows outside any group. Unscored rows (None/NaN) are ignored; groups
    with fewer than two scored rows are skipped. Returns ``max_gap`` and ``mean_gap`` over groups
    (None when no group could be compared), ``n_groups`` compared, and ``per_group[id]`` with
    ``gap``, ``min``, ``max``, ``n``.
    """
    if len(scores) != len(groups):
        raise ValueError(f"counterfactual_gap: {len(scores)} scores but {len(groups)} group ids")
    members: dict[str, list[float]] = {}
    for score, group in zip(scores, groups):
        if group is None or score is None or not math.isfinite(float(score)):
            continue
        members.setdefault(str(group), []).append(float(score))
    per_group = {g: {"gap": max(v) - min(v), "min": min(v), "max": max(v), "n": len(v)}
                 for g, v in members.items() if len(v) >= 2}
    gaps = [row["gap"] for row in per_group.values()]
    return {
        "max_gap": max(gaps) if gaps else None,
        "mean_gap": sum(gaps) / len(gaps) if gaps else None,
        "n_groups": len(gaps),
        "per_group": per_group,
    }


def source_gap(source: Any, prompts: Sequence[str], completions: Sequence[str], groups: Sequence[str | None],
               **columns: Iterable[Any]) -> dict[str, Any]:
    """Score rows with a reward source (any ``rlit.RewardSource``) and return ``counterfactual_gap``."""
    scores = source.score(list(prompts), list(completions), **{k: list(v) for k, v in columns.items()})
    return counterfactual_gap(scores, groups)


def template_groups(templates: Sequence[str], terms: Sequence[str], slot: str = "{group}") -> tuple[list[str], list[str]]:
    """(texts, group ids): every template filled with every term; one group per template."""
    texts, groups = [], []
    for i, template in enumerate(templates):
        for term in terms:
            text = template.replace(slot, term)
            texts.append(re.sub(r"\b([Aa]) (?=[AEIOUaeiou])", r"\1n ", text))  # "a Asian" -> "an Asian"
            groups.append(f"t{i}")
    return texts, groups
