"""Run every lesson under strict nbval, as the test command does, and exit with pytest's status.

    python scripts/lessons.py [pytest options]          (scripts/test.sh passes its own)

Each lesson runs in its own kernel, re-executed top to bottom, every output compared with the
committed one. The lessons run side by side, one per core (at most four at a time), each kernel
with one torch thread: the lessons' tensors are small, so on a 2-core machine two lessons
with one thread each take far less time than one lesson after another with two threads. The
printed numbers do not depend on the thread count: the lessons are re-executed for committing
with torch's default threads and checked here with one, so strict nbval holds them equal. The
longest lessons start first, by the times on the performance page, so the workers finish
together; a lesson the page does not list yet starts before all of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "performance.md"
MAX_WORKERS = 4


def measured_seconds(page: Path = PAGE) -> dict[str, float]:
    """{lesson stem: seconds} from the table of the page's part "lessons" (empty if none)."""
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    part = re.search(
        r"<!-- part:lessons -->(.*?)<!-- end:lessons -->", text, flags=re.S
    )
    rows = re.findall(
        r"^\| (\d\d_\w+) \| (\d+(?:\.\d+)?) \|$", part[1] if part else "", re.M
    )
    return {stem: float(seconds) for stem, seconds in rows}


def lessons_longest_first(root: Path = ROOT, page: Path = PAGE) -> list[Path]:
    """The lessons, those the page has not timed first, then by measured time, longest first."""
    seconds = measured_seconds(page)
    lessons = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return sorted(lessons, key=lambda nb: -seconds.get(nb.stem, float("inf")))


def workers() -> int:
    """One worker per core this process may use, at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def command(extra: list[str]) -> list[str]:
    """The pytest command line; `extra` goes at its end."""
    lessons = [str(nb.relative_to(ROOT)) for nb in lessons_longest_first()]
    return [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-sanitize-with",
        "tests/nbval_sanitize.cfg",
        # whole lessons to a worker (a kernel per file), in the order given here
        "--dist",
        "loadfile",
        "--no-loadscope-reorder",
        "-n",
        str(workers()),
        *lessons,
        *extra,
    ]


def environment() -> dict[str, str]:
    """This environment with one thread per kernel (torch reads OMP_NUM_THREADS)."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def main() -> int:
    return subprocess.run(command(sys.argv[1:]), cwd=ROOT, env=environment()).returncode


if __name__ == "__main__":
    sys.exit(main())
