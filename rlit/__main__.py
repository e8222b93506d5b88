"""``python -m rlit`` runs the CLI."""

from rlit.cli import main

main()
