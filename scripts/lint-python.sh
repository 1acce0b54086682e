#!/usr/bin/env bash
# Python lint of freeze (stage 2 of scripts/test.sh): ruff, mypy, no import cycles.
# Configuration lives in pyproject.toml ([tool.ruff], [tool.mypy]).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m ruff check freeze lab tests benchmarks scripts
"$PY" -m mypy
"$PY" scripts/import_cycles.py freeze
