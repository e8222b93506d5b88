"""NLTK's ``punkt_tab`` sentence tokenizer data, found offline or reported as missing.

Two IFEval checkers (sentence counting, capital-word frequency) tokenize with NLTK. lm-eval's
IFEval module calls ``nltk.download("punkt_tab")`` at import when the data is missing (and prints
"Downloaded punkt_tab" even when the download failed), so we must find the data *before* that
import and fail clearly when it is absent. No data package ships punkt_tab alone; the
llama-index-core wheel carries it, installed without its dependencies.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rlit.errors import ConfigError

INSTALL_LINE = "pip install --no-deps llama-index-core==0.14.25"
PUNKT_RESOURCE = "tokenizers/punkt_tab/english/"


def bundled_nltk_folder() -> Path | None:
    """The NLTK data folder inside an installed llama-index-core, if there is one.

    ``find_spec`` on the top-level namespace package does not import llama_index (whose
    dependencies are deliberately not installed).
    """
    spec = importlib.util.find_spec("llama_index")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root) / "core" / "_static" / "nltk_cache"
        if (folder / "tokenizers" / "punkt_tab").is_dir():
            return folder
    return None


def ensure_punkt_tab() -> None:
    """Put the bundled NLTK data on ``nltk.data.path`` (after the user's NLTK_DATA) and check
    that English punkt_tab is found; raise ConfigError with the install line if not."""
    import nltk

    folder = bundled_nltk_folder()
    if folder is not None and str(folder) not in nltk.data.path:
        nltk.data.path.append(str(folder))  # appended: a user's NLTK_DATA keeps precedence
    try:
        nltk.data.find(PUNKT_RESOURCE)
    except LookupError:
        raise ConfigError(
            "reward source 'ifeval' needs NLTK's punkt_tab data, which was not found on "
            f"nltk.data.path; install it with `{INSTALL_LINE}` (or run scripts/setup.sh), or set "
            "NLTK_DATA to a folder containing tokenizers/punkt_tab/english/"
        ) from None
