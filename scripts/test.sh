#!/usr/bin/env bash
# The test command: sets up .venv (scripts/setup.sh), then runs tests/ and every plugins/*/tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest tests plugins "$@"
