"""A programmatic responder: builds a short on-topic completion that satisfies a row's instructions.

It lays out body sentences (from `texts`, or `languages` for the language instruction) into
paragraphs/sections, adds what each instruction needs (title, bullets, placeholders, keywords,
postscript, end phrase...), applies whole-text transforms (case, commas, quotes), then checks
the result with lm-eval's checkers and, for counting instructions, adjusts the number of body
sentences and retries. A row it cannot satisfy returns None (the generator then redraws it).
"""

import json
import math
import random
import re
from dataclasses import dataclass

from . import checking, texts
from .languages import LANGUAGE_TEXT

AT_LEAST = "at least"
PS_TYPES = "detectable_content:postscript"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _title_case(topic: str) -> str:
    small = {"a", "an", "the", "of", "for", "and", "on", "in", "to", "with"}
    words = topic.split()
    return " ".join(w if (i and w in small) else _cap(w) for i, w in enumerate(words))


@dataclass
class Knobs:
    n_body: int
    letter_boost: int = 0


class Plan:
    """Everything fixed for one row (sentence order, choices); `render(knobs)` makes the text."""

    def __init__(self, row: dict, kind: str, rng: random.Random):
        self.row, self.rng = row, rng
        self.spec = dict(zip(row["instruction_id_list"], row["kwargs"]))
        self.topic = row["topic"]
        self.lang = self.spec.get("language:response_language", {}).get("language")
        fill = {"topic": self.topic, "Topic": _cap(self.topic), "Title": _title_case(self.topic)}
        self.fill = fill
        if self.lang:
            lt = LANGUAGE_TEXT[self.lang]
            self.body = rng.sample(lt["sentences"], len(lt["sentences"]))
            self.bullets = rng.sample(lt["bullets"], len(lt["bullets"]))
            self.title, self.ps = lt["title"], lt["ps"]
        else:
            pool = texts.OPENERS.get(kind, [])
            openers = rng.sample(pool, len(pool))[:1]
            body = rng.sample(texts.BODY, len(texts.BODY))
            self.body = self._allowed([s.format(**fill) for s in openers + body])
            self.bullets = self._allowed([s.format(**fill) for s in rng.sample(texts.BULLETS, len(texts.BULLETS))])
            self.title = self._first_allowed([t.format(**fill) for t in rng.sample(texts.TITLES, len(texts.TITLES))])
            self.ps = self._first_allowed(rng.sample(texts.POSTSCRIPTS, len(texts.POSTSCRIPTS)))
        self.extras = self._extras()

    # -- filters: sentences that would break a "must not" instruction are never used
    def _ok(self, s: str) -> bool:
        fw = self.spec.get("keywords:forbidden_words")
        if fw and any(re.search(r"\b" + w + r"\b", s, flags=re.IGNORECASE) for w in fw["forbidden_words"]):
            return False
        kf = self.spec.get("keywords:frequency")
        if kf and kf["keyword"].lower() in s.lower():
            return False
        lf = self.spec.get("keywords:letter_frequency")
        if lf and lf["let_relation"] != AT_LEAST and lf["letter"] in s.lower():
            return False
        return True

    def _allowed(self, items: list[str]) -> list[str]:
        return [s for s in items if self._ok(s)]

    def _first_allowed(self, items: list[str]) -> str:
        return next((s for s in items if self._ok(s)), items[0])

    def _extras(self) -> list[str]:
        """Sentences added for keyword, placeholder and capital-word instructions."""
        rng, spec, out = self.rng, self.spec, []
        if "keywords:existence" in spec:
            ks = [f"the {k}" for k in spec["keywords:existence"]["keywords"]]
            joined = ks[0] if len(ks) == 1 else ", ".join(ks[:-1]) + " and " + ks[-1]
            out.append(rng.choice(texts.EXISTENCE_CARRIERS).format(ks=joined))
        kf = spec.get("keywords:frequency")
        if kf and kf["relation"] == AT_LEAST:
            carriers = rng.sample(texts.KEYWORD_CARRIERS, kf["frequency"])
            out += [c.format(k=kf["keyword"], **self.fill) for c in carriers]
        if "detectable_content:number_placeholders" in spec:
            n = spec["detectable_content:number_placeholders"]["num_placeholders"]
            names = rng.sample(texts.PLACEHOLDER_NAMES, n)
            ps = (" " if self.lang else " and ").join(f"[{p}]" for p in names)
            out.append(ps if self.lang else rng.choice(texts.PLACEHOLDER_CARRIERS).format(ps=ps))
        cw = spec.get("change_case:capital_word_frequency")
        if cw and cw["capital_relation"] == AT_LEAST:
            words = rng.sample(texts.CAPS_WORDS, cw["capital_frequency"])
            out.append(rng.choice(texts.CAPS_CARRIERS).format(ws=" and ".join(words)))
        return out

    def _letter_boost(self, n: int) -> list[str]:
        lf = self.spec["keywords:letter_frequency"]
        words = texts.LETTER_WORDS[lf["letter"]]
        return [texts.LETTER_CARRIER.format(ws=" and ".join(words))] * min(n, 1) + \
               [texts.LETTER_CARRIER.format(ws=" and ".join(reversed(words)))] * max(0, n - 1)

    # -- layout
    def _units(self, sentences: list[str]) -> tuple[list[str], str]:
        spec = self.spec
        sep, n_par = "\n\n", None
        if "length_constraints:number_paragraphs" in spec:
            n_par, sep = spec["length_constraints:number_paragraphs"]["num_paragraphs"], "\n\n***\n\n"
        elif "length_constraints:nth_paragraph_first_word" in spec:
            n_par = spec["length_constraints:nth_paragraph_first_word"]["num_paragraphs"]
        sec = spec.get("detectable_format:multiple_sections")
        n_sec = sec["num_sections"] if sec else 0
        n_groups = max(n_par or 1, n_sec, 1 if len(sentences) <= 4 else 2)
        if len(sentences) < n_groups:
            return None, sep
        groups = [sentences[i * len(sentences) // n_groups:(i + 1) * len(sentences) // n_groups]
                  for i in range(n_groups)]
        texts_ = [" ".join(g) for g in groups]
        if n_sec:
            at = [math.floor(i * n_groups / n_sec) for i in range(n_sec)]
            for number, idx in enumerate(at, 1):
                texts_[idx] = f"{sec['section_spliter']} {number}\n{texts_[idx]}"
        paragraphs = n_par or n_groups
        if paragraphs < n_groups:  # more sections than paragraphs: merge groups into paragraphs
            merged = [texts_[i * n_groups // paragraphs:(i + 1) * n_groups // paragraphs] for i in range(paragraphs)]
            texts_ = ["\n".join(m) for m in merged]
        nth = spec.get("length_constraints:nth_paragraph_first_word")
        if nth:
            i = nth["nth_paragraph"] - 1
            para = texts_[i]
            texts_[i] = _cap(nth["first_word"]) + " " + para[:1].lower() + para[1:]
        return texts_, sep

    def _main_text(self, knobs: Knobs, body: list[str]) -> str | None:
        spec = self.spec
        n_high = spec.get("detectable_format:number_highlighted_sections", {}).get("num_highlights", 0)
        n = max(knobs.n_body, n_high, 1)
        if n > len(body):
            return None
        sentences = list(body[:n])
        for i in range(n_high):  # highlight the last word of a sentence (never at a line start)
            head, last = sentences[i].rsplit(" ", 1) if " " in sentences[i] else ("", sentences[i])
            word, stop = last[:-1], last[-1:]
            sentences[i] = f"{head} *{word}*{stop}".strip()
        tail = list(self.extras)
        if "keywords:letter_frequency" in spec and knobs.letter_boost:
            tail += self._letter_boost(knobs.letter_boost)
        sentences += tail
        units, sep = self._units(sentences)
        if units is None:
            return None
        if "detectable_format:number_bullet_lists" in spec:
            k = spec["detectable_format:number_bullet_lists"]["num_bullets"]
            if k > len(self.bullets):
                return None
            units[-1] += "\n" + "\n".join(f"* {b}" for b in self.bullets[:k])
        if "detectable_format:title" in spec:
            units[0] = f"<<{self.title}>>\n{units[0]}"
        end = spec.get("startend:end_checker", {}).get("end_phrase")
        if PS_TYPES in spec:
            units[-1] += f"\n{spec[PS_TYPES]['postscript_marker']} {self.ps}" + (f" {end}" if end else "")
        elif end:
            units[-1] += f"\n{end}"
        return sep.join(units)

    def render(self, knobs: Knobs) -> str | None:
        spec = self.spec
        if "detectable_format:constrained_response" in spec:
            option = self.rng.choice(sorted(texts.REASONS))
            return option + " " + self.rng.choice(texts.REASONS[option]).format(**self.fill)
        if "detectable_format:json_format" in spec:
            return self._json()
        if "combination:two_responses" in spec:
            half = max(2, len(self.body) // 2)
            a = self._main_text(Knobs(min(knobs.n_body, 3)), self.body[:half])
            b = self._main_text(Knobs(min(knobs.n_body, 3)), self.body[half:])
            if a is None or b is None:
                return None
            text = self._transform(a) + "\n******\n" + self._transform(b)
            return text
        text = self._main_text(knobs, self.body)
        if text is None:
            return None
        text = self._transform(text)
        if "combination:repeat_prompt" in spec:
            text = spec["combination:repeat_prompt"]["prompt_to_repeat"] + "\n\n" + text
        if "startend:quotation" in spec:
            text = f'"{text}"'
        return text

    def _transform(self, text: str) -> str:
        if "change_case:english_lowercase" in self.spec:
            text = text.lower()
        if "change_case:english_capital" in self.spec:
            text = text.upper()
        if "punctuation:no_comma" in self.spec:
            text = text.replace(",", "")
        return text

    def _json(self) -> str:
        obj = {"topic": self.topic, "summary": " ".join(self.body[:2] + self.extras),
               "tips": self.bullets[:2]}
        dumped = json.dumps(obj, indent=2, ensure_ascii=False)
        return f"```json\n{dumped}\n```" if self.rng.random() < 0.5 else dumped


def _adjust(knobs: Knobs, spec: dict, ids: list[str], ok: list[bool], text: str, util) -> bool:
    """Move the knobs toward satisfying failed counting instructions; False if nothing can help."""
    for iid, good in zip(ids, ok):
        if good:
            continue
        kw = spec[iid]
        if iid == "length_constraints:number_sentences":
            have = util.count_sentences(text)
            knobs.n_body += (kw["num_sentences"] - have) if kw["relation"] == AT_LEAST else -(have - kw["num_sentences"] + 1)
        elif iid == "length_constraints:number_words":
            have = util.count_words(text)
            step = math.ceil(abs(kw["num_words"] - have + (0 if kw["relation"] == AT_LEAST else 1)) / 8) or 1
            knobs.n_body += step if kw["relation"] == AT_LEAST else -step
        elif iid == "keywords:letter_frequency" and kw["let_relation"] == AT_LEAST:
            knobs.letter_boost += 1
        else:
            return False
    return knobs.n_body >= 1


def respond(row: dict, kind: str, seed: str, attempts: int = 12) -> str | None:
    """A completion that passes every instruction of `row` under lm-eval's strict checker, or None."""
    util = checking.ifeval()[1]
    rng = random.Random(seed)
    plan = Plan(row, kind, rng)
    knobs = Knobs(n_body=rng.randint(3, 5))
    for _ in range(attempts):
        text = plan.render(knobs)
        if text is None:
            return None
        ok = checking.strict_list(row, text)
        if all(ok):
            return text
        if not _adjust(knobs, plan.spec, row["instruction_id_list"], ok, text, util):
            return None
    return None
