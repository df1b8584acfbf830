"""scripts/lessons.py, the lesson half of the test command: every lesson, longest first."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "lessons", ROOT / "scripts" / "lessons.py"
)
lessons = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lessons)

ALL = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

PAGE = """intro
<!-- part:unet -->
| 00_getting_started | 99 |
<!-- end:unet -->
<!-- part:lessons -->
| lesson | seconds |
|---|---|
| {a} | 12 |
| {b} | 80 |
| {c} | 7.5 |
| **all, wall time** | **100** |
<!-- end:lessons -->
"""


def test_the_page_table_is_read_from_its_own_part_only(tmp_path):
    a, b, c = (nb.stem for nb in ALL[1:4])
    page = tmp_path / "performance.md"
    page.write_text(PAGE.format(a=a, b=b, c=c))
    assert lessons.measured_seconds(page) == {a: 12.0, b: 80.0, c: 7.5}
    assert lessons.measured_seconds(tmp_path / "missing.md") == {}


def test_untimed_lessons_first_then_longest_first(tmp_path):
    a, b, c = (nb.stem for nb in ALL[1:4])
    page = tmp_path / "performance.md"
    page.write_text(PAGE.format(a=a, b=b, c=c))
    order = [nb.stem for nb in lessons.lessons_longest_first(ROOT, page)]
    assert sorted(order) == [nb.stem for nb in ALL]  # each lesson once
    untimed = [nb.stem for nb in ALL if nb.stem not in (a, b, c)]
    assert order == untimed + [b, a, c]


def test_the_committed_page_times_every_lesson():
    """After `benchmarks/performance.py --parts lessons` the order is by measurement alone."""
    assert set(lessons.measured_seconds()) == {nb.stem for nb in ALL}


def test_the_command_runs_every_lesson_strictly_one_file_per_worker():
    cmd = lessons.command(["-q"])
    assert cmd[1:4] == ["-m", "pytest", "--nbval"]
    assert "tests/nbval_sanitize.cfg" in cmd and cmd[-1] == "-q"
    assert (
        cmd[cmd.index("--dist") + 1] == "loadfile" and "--no-loadscope-reorder" in cmd
    )
    assert 1 <= int(cmd[cmd.index("-n") + 1]) <= lessons.MAX_WORKERS
    named = [arg for arg in cmd if arg.endswith(".ipynb")]
    assert sorted(named) == [str(nb.relative_to(ROOT)) for nb in ALL]
    assert lessons.environment()["OMP_NUM_THREADS"] == "1"
