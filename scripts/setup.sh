# Sourced by book.sh and test.sh: make the course environment in .venv (once, and again
# whenever requirements.txt or pyproject.toml change) and put it first on PATH.
# Needs Python 3.11 or newer as python3 (or set PYTHON=/path/to/python).

VENV="${DDPM_LITE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.ddpm_lite-requirements"
wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== installing the course environment (requirements.txt) into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  echo "$wanted" > "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
