"""lm-eval's IFEval checkers, set up offline and deterministically.

NLTK's punkt_tab comes from the llama-index-core wheel (data only); lm-eval's IFEval module
tries `nltk.download` at import when it is missing, so the path is set before that import.
langdetect is seeded so the language checks give the same verdict on every run.
"""

import functools
from importlib import metadata

INSTALL_LINE = "pip install --no-deps llama-index-core==0.14.25"


@functools.cache
def ifeval():
    """Return (instructions_registry, instructions_util, utils) with NLTK data and langdetect ready."""
    import nltk

    try:
        folder = metadata.distribution("llama-index-core").locate_file("llama_index/core/_static/nltk_cache")
    except metadata.PackageNotFoundError:
        raise SystemExit(f"NLTK punkt_tab data is missing; install it with: {INSTALL_LINE}") from None
    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        raise SystemExit(f"NLTK punkt_tab data is missing; install it with: {INSTALL_LINE}") from None
    import langdetect

    langdetect.DetectorFactory.seed = 0
    from lm_eval.tasks.ifeval import instructions_registry, instructions_util, utils

    return instructions_registry, instructions_util, utils


def verdicts(row: dict, response: str) -> dict:
    """lm-eval's own `process_results` on one row and one response."""
    utils = ifeval()[2]
    doc = {k: row[k] for k in ("instruction_id_list", "prompt", "kwargs")}
    doc["key"] = row.get("key", 0)
    return utils.process_results(doc, [response])


def strict_list(row: dict, response: str) -> list[bool]:
    """Per-instruction strict verdicts only (cheaper than both modes, same checker code path)."""
    utils = ifeval()[2]
    inp = utils.InputExample(key=row.get("key", 0), instruction_id_list=row["instruction_id_list"],
                             prompt=row["prompt"], kwargs=row["kwargs"])
    return utils.test_instruction_following_strict(inp, response).follow_instruction_list
