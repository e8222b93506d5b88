"""NLTK data for lm-eval tasks, offline: use the punkt_tab copy in the llama-index-core wheel and
turn any attempt of a task to download NLTK data into a clear error.

lm-eval's IFEval checkers call ``nltk.download("punkt_tab")`` at import time when the data is not
found; on a machine without internet that hangs or fails deep inside an import. rlit never
downloads: it puts the bundled copy on ``nltk.data.path`` and, while it loads a task, replaces
``nltk.download`` with a function that raises ``DataError`` naming the install line.
"""

from __future__ import annotations

import contextlib
from importlib import metadata
from pathlib import Path
from typing import Iterator

from rlit.errors import DataError

INSTALL_LINE = "pip install --no-deps llama-index-core==0.14.25"


def bundled_nltk_dir() -> Path | None:
    """The NLTK data folder shipped in the llama-index-core wheel, or None when not installed."""
    try:
        folder = metadata.distribution("llama-index-core").locate_file("llama_index/core/_static/nltk_cache")
    except metadata.PackageNotFoundError:
        return None
    folder = Path(str(folder))
    return folder if folder.is_dir() else None


def add_bundled_nltk_data() -> Path | None:
    """Put the bundled NLTK data folder first on ``nltk.data.path`` (once); return it."""
    import nltk

    folder = bundled_nltk_dir()
    if folder is not None and str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    return folder


def require_punkt_tab() -> None:
    """Raise DataError (with the install line) unless NLTK finds English punkt_tab."""
    import nltk

    add_bundled_nltk_data()
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        raise DataError(f"NLTK data 'punkt_tab' is missing (lm-eval's IFEval checkers need it offline); install it with: {INSTALL_LINE}") from None


@contextlib.contextmanager
def no_nltk_downloads(context: str) -> Iterator[None]:
    """Within this block, ``nltk.download`` raises DataError instead of reaching the network."""
    import nltk

    add_bundled_nltk_data()

    def refuse(info_or_id: object = None, *args: object, **kwargs: object) -> bool:
        raise DataError(f"{context} needs NLTK data {info_or_id!r}, which is not installed and rlit does not download; install it with: {INSTALL_LINE}")

    original = nltk.download
    nltk.download = refuse
    try:
        yield
    finally:
        nltk.download = original
