"""IFEval's verifiable-instruction checkers (lm-eval's registry), built deterministically.

lm-eval's own ``process_results`` drops every falsy kwarg (``if v``) before building a checker,
and a checker whose argument is missing draws a random one: a kwarg of 0 or "" silently turns
into a random instruction. Here kwargs are passed as given (only ``None``, meaning "not set",
is dropped), and a build that would still draw a random value is refused with an error naming
the row and instruction, so a verdict never depends on chance.

Importing this module checks for NLTK's punkt_tab first (ConfigError when missing), because
importing lm-eval's IFEval module without it would attempt a download.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import linecache
import logging
import sys
import threading
from typing import Any

from rlit.errors import DataError

from rlit_rules.punkt import ensure_punkt_tab

ensure_punkt_tab()  # must run before lm-eval's IFEval import below, which would try a download

import langdetect  # noqa: E402
from lm_eval.tasks.ifeval import instructions, instructions_util  # noqa: E402
from lm_eval.tasks.ifeval.instructions_registry import INSTRUCTION_DICT  # noqa: E402

# langdetect samples n-grams at random; a fixed seed makes language verdicts reproducible.
langdetect.DetectorFactory.seed = 0


class _QuietUndetectable(logging.Filter):
    """Drops IFEval's error line for a text langdetect cannot read ("***", "}"): the instruction
    then counts as followed, as in the reference, and a line per such text is only noise (48 in
    one quick-start run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable to detect language")


instructions.logger.addFilter(_QuietUndetectable())

INT_ARGS = frozenset({
    "num_sentences", "num_placeholders", "num_bullets", "num_highlights", "num_sections",
    "num_paragraphs", "num_words", "nth_paragraph", "frequency", "let_frequency", "capital_frequency",
})
STR_ARGS = frozenset({
    "relation", "language", "section_spliter", "postscript_marker", "keyword", "first_word",
    "prompt_to_repeat", "end_phrase", "letter", "let_relation", "capital_relation",
})
LIST_ARGS = frozenset({"keywords", "forbidden_words"})


_BUILD_LOCK = threading.Lock()


class _RandomDraw(Exception):
    """Raised instead of drawing a random number while a checker is being built; ``target`` is
    what the draw would have set (``self._letter``), to name the kwarg at fault."""

    def __init__(self, name: str, target: str = ""):
        super().__init__(name)
        self.target = target


class _NoRandom:
    """Stands in for the ``random`` module of lm-eval's IFEval code during a build."""

    def __getattr__(self, name: str) -> Any:
        caller = sys._getframe(1)  # lm-eval's build_description: its line says what it would draw
        line = linecache.getline(caller.f_code.co_filename, caller.f_lineno)
        raise _RandomDraw(name, line.split("=")[0].strip())


def instruction_ids() -> list[str]:
    """Every instruction id the registry knows (25 in lm-eval 0.4.13)."""
    return sorted(INSTRUCTION_DICT)


def parse_row(row: int, ids: Any, kwargs: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Validate one row's ``instruction_id_list`` and ``kwargs`` (lists, or JSON strings of
    lists; kwargs items may be dicts, JSON strings or None). Raises DataError naming the row."""
    ids = _json_value(row, "instruction_id_list", ids)
    if ids is None:
        return [], []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DataError(f"ifeval: row {row}: instruction_id_list must be a list of strings, got {ids!r:.80}")
    kwargs = _json_value(row, "kwargs", kwargs)
    if kwargs is None:
        kwargs = [{} for _ in ids]
    if not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise DataError(
            f"ifeval: row {row}: kwargs must be a list with one dict per instruction "
            f"({len(ids)} instructions), got {kwargs!r:.80}"
        )
    parsed = []
    for instruction_id, item in zip(ids, kwargs):
        if instruction_id not in INSTRUCTION_DICT:
            close = difflib.get_close_matches(instruction_id, INSTRUCTION_DICT, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(instruction_ids())}"
            raise DataError(f"ifeval: row {row}: unknown instruction id {instruction_id!r}; {hint}")
        item = _json_value(row, f"kwargs of {instruction_id!r}", item)
        parsed.append(_check_kwargs(row, instruction_id, {} if item is None else item))
    return ids, parsed


def _json_value(row: int, what: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise DataError(f"ifeval: row {row}: {what} is a string but not valid JSON ({exc.msg})") from None
    return value


@functools.cache
def _kwarg_names(instruction_id: str) -> list[str]:
    params = inspect.signature(INSTRUCTION_DICT[instruction_id].build_description).parameters
    return [p for p in params if p != "self"]


def _check_kwargs(row: int, instruction_id: str, item: Any) -> dict[str, Any]:
    where = f"ifeval: row {row}, instruction {instruction_id!r}"
    if not isinstance(item, dict):
        raise DataError(f"{where}: kwargs must be a dict, got {item!r:.80}")
    valid = _kwarg_names(instruction_id)
    kwargs = {k: v for k, v in item.items() if v is not None}  # None = not set (HF IFEval rows)
    for key, value in kwargs.items():
        if key not in valid:
            raise DataError(f"{where}: unknown kwarg {key!r}; valid: {', '.join(valid) or 'none'}")
        bad = (
            (key in INT_ARGS and (isinstance(value, bool) or not isinstance(value, int)))
            or (key in STR_ARGS and not isinstance(value, str))
            or (key in LIST_ARGS and (not isinstance(value, list) or not all(isinstance(w, str) for w in value)))
        )
        if bad:
            expected = "an integer" if key in INT_ARGS else "a string" if key in STR_ARGS else "a list of strings"
            raise DataError(f"{where}: kwarg {key!r} must be {expected}, got {value!r:.60}")
    try:
        build_checker(instruction_id, json.dumps(kwargs, sort_keys=True))
    except BadKwargs as exc:
        raise DataError(f"{where}: {exc}") from None
    return kwargs


class BadKwargs(ValueError):
    """A checker cannot be built deterministically from these kwargs."""


@functools.lru_cache(maxsize=8192)
def build_checker(instruction_id: str, kwargs_json: str) -> Any:
    """A built checker for one instruction and its kwargs (JSON, for the cache key).

    lm-eval's ``random`` is swapped for a stand-in that raises while ``build_description`` runs,
    so kwargs that leave anything to chance (missing, or out of range, such as a letter that is
    not a-z or ``nth_paragraph`` beyond ``num_paragraphs``) are reported instead of drawn.
    """
    kwargs = json.loads(kwargs_json)
    checker = INSTRUCTION_DICT[instruction_id](instruction_id)
    with _BUILD_LOCK:  # the swap is process-wide: one build at a time
        return _build_without_random(checker, kwargs)


def _build_without_random(checker: Any, kwargs: dict[str, Any]) -> Any:
    saved = instructions.random, instructions_util.random
    instructions.random = instructions_util.random = _NoRandom()
    try:
        checker.build_description(**kwargs)
    except _RandomDraw as draw:
        expected = list(checker.get_instruction_args_keys() or [])
        culprits = sorted((k for k in expected if k in draw.target), key=len, reverse=True)
        if culprits:
            key = culprits[0]
            got = f"got {kwargs[key]!r}" if key in kwargs else "not given"
            raise BadKwargs(f"kwarg {key!r} is missing or out of range ({got}), so lm-eval's checker would "
                            f"draw a random value; expected kwargs: {', '.join(expected)}") from None
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no kwargs"
        raise BadKwargs(
            f"kwargs ({given}) are missing or out of range, so lm-eval's checker would draw a "
            f"random value; expected kwargs: {', '.join(expected)}"
        ) from None
    except (TypeError, ValueError) as exc:
        raise BadKwargs(f"invalid kwargs: {exc}") from None
    finally:
        instructions.random, instructions_util.random = saved
    return checker


def loose_variants(response: str) -> list[str]:
    """IFEval's loose mode: the response, without its first and/or last line, without '*'
    (distinct variants only, in IFEval's order of preference)."""
    lines = response.split("\n")
    trimmed = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    # Identical variants (a text without '*' or with one line) would get identical verdicts:
    # checking each once halves the work on many responses.
    return list(dict.fromkeys(trimmed + [t.replace("*", "") for t in trimmed]))


def followed(instruction_id: str, kwargs_json: str, response: str, loose: bool) -> bool:
    """Whether ``response`` follows one instruction (strict, or loose: any variant follows)."""
    checker = build_checker(instruction_id, kwargs_json)
    candidates = loose_variants(response) if loose else [response]
    return any(c.strip() and checker.check_following(c) for c in candidates)


def warm_up() -> None:
    """Load langdetect's language profiles and NLTK's punkt data (each is loaded on first use)."""
    langdetect.detect("warming up the language profiles")
    instructions_util.count_sentences("One. Two.")


Payload = tuple[tuple[str, ...], tuple[str, ...], str]  # (instruction ids, kwargs JSON, completion)


def follow_rows(rows: list[Payload], loose: bool) -> list[list[bool]]:
    """Per-instruction verdicts for a chunk of rows (runs in a worker process or in-process)."""
    return [[followed(i, k, completion, loose) for i, k in zip(ids, kws)] for ids, kws, completion in rows]
