"""Instruction-following rows: instruction combinations, kwargs, prompt text, per split.

Kwargs hold exactly the keyword names that lm-eval's `build_description` takes for each
instruction, with no falsy values (lm-eval drops them and would draw random ones instead).
Combinations avoid lm-eval's conflict map plus a few pairs the checkers make unsatisfiable
together (case-sensitive section markers under a case change, for example).
"""

import copy
import random
from collections import Counter

from . import checking, vocab
from .phrasings import PHRASINGS, render_phrasing

AT_LEAST, LESS_THAN = "at least", "less than"
REPEAT = "combination:repeat_prompt"

# Pairs we never combine beyond lm-eval's own conflict map, and why.
EXTRA_CONFLICTS = {
    # section markers are matched case-sensitively ("Section 1" vs "section 1")
    "detectable_format:multiple_sections": {"change_case:english_lowercase", "change_case:english_capital",
                                            "length_constraints:nth_paragraph_first_word"},
    # our non-English texts are fixed; counts of English-specific things do not fit them
    "language:response_language": {"keywords:letter_frequency", "change_case:capital_word_frequency",
                                   "length_constraints:number_words",
                                   "length_constraints:nth_paragraph_first_word"},
}


def instruction_ids() -> list[str]:
    return sorted(checking.ifeval()[0].INSTRUCTION_DICT)


def conflict_map() -> dict[str, set[str]]:
    """lm-eval's INSTRUCTION_CONFLICTS made symmetric, plus EXTRA_CONFLICTS."""
    reg = checking.ifeval()[0]
    conflicts = reg.conflict_make(copy.deepcopy(reg.INSTRUCTION_CONFLICTS))
    for a, others in EXTRA_CONFLICTS.items():
        for b in others:
            conflicts[a].add(b)
            conflicts[b].add(a)
    return conflicts


def sample_kwargs(iid: str, rng: random.Random) -> dict:
    """Kwargs for one instruction (repeat_prompt's prompt_to_repeat is filled in later)."""
    rel = rng.choice([AT_LEAST, LESS_THAN])
    match iid:
        case "keywords:existence":
            return {"keywords": sorted(rng.sample(vocab.KEYWORDS, rng.randint(1, 3)))}
        case "keywords:frequency":
            freq = rng.randint(1, 4) if rel == AT_LEAST else rng.randint(2, 4)
            return {"keyword": rng.choice(vocab.KEYWORDS), "frequency": freq, "relation": rel}
        case "keywords:forbidden_words":
            return {"forbidden_words": sorted(rng.sample(vocab.FORBIDDEN_POOL, rng.randint(1, 3)))}
        case "keywords:letter_frequency":
            if rel == AT_LEAST:
                return {"letter": rng.choice(vocab.COMMON_LETTERS + vocab.RARE_LETTERS),
                        "let_frequency": rng.randint(2, 12), "let_relation": rel}
            return {"letter": rng.choice(vocab.RARE_LETTERS), "let_frequency": rng.randint(2, 5), "let_relation": rel}
        case "language:response_language":
            return {"language": rng.choice(sorted(vocab.LANGUAGES))}
        case "length_constraints:number_sentences":
            return {"num_sentences": rng.randint(2, 8) if rel == AT_LEAST else rng.randint(3, 8), "relation": rel}
        case "length_constraints:number_paragraphs":
            return {"num_paragraphs": rng.randint(2, 4)}
        case "length_constraints:number_words":
            n = rng.choice([40, 50, 60, 80, 100]) if rel == AT_LEAST else rng.choice([60, 80, 100, 120, 150])
            return {"num_words": n, "relation": rel}
        case "length_constraints:nth_paragraph_first_word":
            n = rng.randint(2, 4)
            return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(vocab.FIRST_WORDS)}
        case "detectable_content:number_placeholders":
            return {"num_placeholders": rng.randint(1, 4)}
        case "detectable_content:postscript":
            return {"postscript_marker": rng.choice(vocab.POSTSCRIPT_MARKERS)}
        case "detectable_format:number_bullet_lists":
            return {"num_bullets": rng.randint(1, 5)}
        case "detectable_format:number_highlighted_sections":
            return {"num_highlights": rng.randint(1, 4)}
        case "detectable_format:multiple_sections":
            return {"section_spliter": rng.choice(vocab.SECTION_SPLITTERS), "num_sections": rng.randint(2, 4)}
        case "startend:end_checker":
            return {"end_phrase": rng.choice(vocab.END_PHRASES)}
        case "change_case:capital_word_frequency":
            n = rng.randint(2, 6) if rel == AT_LEAST else rng.randint(2, 6)
            return {"capital_frequency": n, "capital_relation": rel}
        case "combination:repeat_prompt":
            return {"prompt_to_repeat": None}
        case _:
            return {}


def choose_ids(primary: str, rng: random.Random, usage: Counter, conflicts: dict, all_ids: list[str]) -> list[str]:
    """The primary instruction plus 0-2 compatible ones, favouring those used least so far."""
    ids = [primary]
    for _ in range(rng.choices([0, 1, 2], weights=[3, 4, 3])[0]):
        blocked = set().union(*(conflicts[i] for i in ids))
        free = [i for i in all_ids if i not in blocked and i not in ids]
        if not free:
            break
        ids.append(rng.choices(free, weights=[1.0 / (1 + usage[i]) for i in free])[0])
    return ids


def build_prompt(task: str, ids: list[str], kwargs: list[dict], split: str, rng: random.Random) -> str:
    """Task text, then one phrasing per instruction; multi-line phrasings and repeat_prompt go last."""
    phrased = []
    for iid, kw in zip(ids, kwargs):
        if iid != REPEAT:
            phrased.append(render_phrasing(rng.choice(PHRASINGS[iid][split]), kw, vocab.LANGUAGES))
    phrased.sort(key=lambda p: "\n" in p)
    request = " ".join([task] + phrased)
    if REPEAT in ids:
        kwargs[ids.index(REPEAT)]["prompt_to_repeat"] = request
        sep = "\n" if "\n" in request else " "
        return request + sep + rng.choice(PHRASINGS[REPEAT][split])
    return request


def template_kinds() -> dict[str, str]:
    kinds = {t: k for split in vocab.SPLITS for t, k in vocab.TEMPLATES[split]}
    kinds.update({t: "question" for split in vocab.SPLITS for t in vocab.QUESTION_TEMPLATES[split]})
    return kinds


def draw_row(split: str, key: int, primary: str, rng: random.Random, usage: Counter,
             conflicts: dict, all_ids: list[str]) -> dict:
    ids = choose_ids(primary, rng, usage, conflicts, all_ids)
    topic = rng.choice(vocab.TOPICS[split])
    if "detectable_format:constrained_response" in ids:
        template = rng.choice(vocab.QUESTION_TEMPLATES[split])
    else:
        template = rng.choice(vocab.TEMPLATES[split])[0]
    kwargs = [sample_kwargs(i, rng) for i in ids]
    prompt = build_prompt(template.format(topic=topic), ids, kwargs, split, rng)
    return {"key": key, "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs,
            "template": template, "topic": topic}
