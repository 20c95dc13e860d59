#!/usr/bin/env bash
# Installs everything into .venv and runs the whole test suite: lint, types, tests.
# This is the README's test command and the whole of CI (.ci/run calls it).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

echo "== ruff"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
# The browser tests (tests/browser) drive Debian's Chromium; Playwright's own download does
# not work offline, so install the distribution's package when it is missing.
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium
fi
# The UI's pure JS modules are unit-tested by `node --test` (tests/js, run from pytest).
if ! command -v node >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs
fi
# -p no:cacheprovider keeps a clean clone clean; pytest exits 5 when it collected nothing,
# so a run with no tests fails too.
.venv/bin/python -m pytest -p no:cacheprovider -q "$@"
