"""Write the notebook editions of the lessons, or check that they are up to date.

    python scripts/editions.py          # writes editions/{colab,student}/notebooks/*.ipynb
    python scripts/editions.py --check  # writes nothing; exit 1 listing stale files

The lessons' Markdown is MyST, which Colab and Jupyter show as raw text. Both editions
rewrite it as notebook Markdown with the built book's numbers (equations, theorems,
exercises) and citations, and end with a References cell. The Colab edition keeps every
output and folds the worked answers (the code cell tagged `answers`) into a titled form.
The student edition is the lessons as nbgrader assignments: solutions and outputs gone,
each checked exercise an answer cell to fill in and a test cell worth its points, released
by nbgrader itself (scripts/instructor.py grades it). See scripts/_editions/ for the rules.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _editions import stale, write

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any file is stale",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = stale(ROOT)
        for problem in problems:
            print(problem)
        if problems:
            print(
                "run `python scripts/editions.py` to regenerate them", file=sys.stderr
            )
        return 1 if problems else 0
    for path in write(ROOT):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
