"""Command-line interface. Thin: parse, call the library, render."""

from rlit.cli.app import app, main, train_app

__all__ = ["app", "main", "train_app"]
