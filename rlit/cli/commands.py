"""Imports every command module so its commands attach to the app."""

from rlit.cli import rewards  # noqa: F401  (plugins, rewards, score)
