"""Writes that cannot half-happen: every output and state file goes through here.

A file is written to a temporary sibling, flushed, fsynced and renamed over the target, so a
reader (or a resumed run after kill -9) sees the old file or the new one, never a torn one.
``check_writable`` is called before work starts, so an unwritable output fails in a second, not
after an hour of generation.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError


def write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, indent: int | None = 1) -> None:
    """Replace ``path`` with ``data`` as JSON atomically (``default=str`` for paths and the like)."""
    write_text(path, json.dumps(data, indent=indent, default=str, ensure_ascii=False) + "\n")


def check_writable(path: str | Path, what: str, folder: bool = False) -> None:
    """Fail now, not after the work, when ``path`` cannot be written.

    ``folder=True``: ``path`` is an output folder (created if missing); otherwise a file whose
    parent folder is created if missing. A ConfigError names the path and ``what`` (e.g. ``--out``).
    """
    p = Path(path)
    folder_path = p if folder else p.parent
    if folder and p.exists() and not p.is_dir():
        raise ConfigError(f"{what} {p}: exists and is not a folder")
    if not folder and p.is_dir():
        raise ConfigError(f"{what} {p}: is a folder, expected a file path")
    try:
        folder_path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{what} {p}: {_first_file_parent(folder_path)} is a file, not a folder") from None
    except OSError as exc:
        raise ConfigError(f"{what} {p}: cannot create folder {folder_path}: {exc.strerror}") from None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder_path, prefix=".rlit-write-check.")
    except OSError as exc:
        raise ConfigError(f"{what} {p}: folder {folder_path} is not writable: {exc.strerror}") from None
    os.close(fd)
    os.unlink(tmp)
    if not folder and p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(f"{what} {p}: file is not writable")


def refuse_same_file(inputs: dict[str, str | Path | None], outputs: dict[str, str | Path | None]) -> None:
    """An output that is one of the inputs would destroy it: a ConfigError naming both options."""
    for out_name, out in outputs.items():
        if out is None:
            continue
        for in_name, inp in inputs.items():
            if inp is None:
                continue
            a, b = Path(out), Path(inp)
            same = a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
            if same:
                raise ConfigError(f"{out_name} {out} is the same file as {in_name} {inp}: refusing to overwrite an input")


def _first_file_parent(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            return parent
    return path
