"""Command-line interface. Thin: parse, call the library, render."""

from rlit.cli.app import app, main, train_app
from rlit.cli import commands  # noqa: F401,E402  (attaches every command to `app`)

__all__ = ["app", "main", "train_app"]
