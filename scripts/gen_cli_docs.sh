#!/usr/bin/env bash
# Regenerates docs/cli.md from the typer app (tests/test_cli_docs.py checks it is current).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/typer rlit.cli utils docs --name rlit --title "CLI reference" --output docs/cli.md
