#!/usr/bin/env bash
# The main job on the embedded default, offline on CPU: sets up .venv (scripts/setup.sh), then runs
# the whole pipeline (SFT -> preference pairs -> reward model -> PPO, evaluated before and after)
# into runs/quickstart. Re-running resumes; pass --out DIR for a fresh run folder.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/rlit pipeline --config examples/quickstart/pipeline.toml "$@"
