#!/usr/bin/env bash
# Build the course book into _build/html (installing what it needs first). Opens nothing.
# The lessons are not re-executed: the book shows their committed outputs, which the tests
# check (see CONTRIBUTING.md to re-execute a lesson after an edit).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
jupyter-book build . -W --keep-going
echo
echo "The book is at: $PWD/_build/html/index.html"
