#!/usr/bin/env bash
# Run every test of the course (installing what it needs first):
#   1. the formatter's and the linter's checks, and the book build, failing on any warning;
#   2. pytest over tests/ (the package, the book in headless Chromium);
#   3. strict nbval over every lesson in notebooks/ (each re-executed, every output compared).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# The browser test needs Chromium and its driver (Debian packages). Install them when we can.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium and chromium-driver (Debian packages) for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "!! chromium/chromedriver missing and cannot be installed here: the browser test will skip (fail under CI=true)"
  fi
fi

echo "== formatting (ruff format --check: the package, tests, benchmarks, scripts, lessons)"
ruff format --check --quiet . || { echo "!! run: .venv/bin/ruff format ."; exit 1; }

echo "== lint (ruff check, the rules in pyproject.toml: the package, tests, benchmarks, scripts, lessons)"
ruff check --quiet . || { echo "!! fix what ruff check reports (.venv/bin/ruff check --fix . fixes some)"; exit 1; }

echo "== building the book (warnings are errors)"
rm -rf _build
jupyter-book build . -W --keep-going -q

echo "== tests (a test file per core, at most four at a time)"
python -m pytest tests -n auto --maxprocesses 4 --dist loadfile "$@"

echo "== lessons (strict nbval, side by side, longest first: see scripts/lessons.py)"
python scripts/lessons.py "$@"
