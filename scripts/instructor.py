"""Run a class with the lessons: hand them out as nbgrader assignments, grade what comes back.

    python scripts/instructor.py release COURSE [LESSON ...]   # every lesson if none is named
    python scripts/instructor.py grade COURSE [LESSON ...] [--timeout S] [--regrade]

COURSE is an nbgrader course folder, made by the first `release`:

    COURSE/nbgrader_config.py                              nbgrader's settings for this course
    COURSE/source/<lesson>/<lesson>.ipynb                  the graded version, worked answers in it
    COURSE/release/<lesson>/<lesson>.ipynb                 what the students get
    COURSE/submitted/<student>/<lesson>/<lesson>.ipynb     put each student's notebook here
    COURSE/autograded/<student>/<lesson>/<lesson>.ipynb    the notebook as the grader ran it
    COURSE/feedback/<student>/<lesson>/<lesson>.html       nbgrader's feedback, and feedback.txt:
                                                           one line per exercise, saying why
    COURSE/grades.csv                                      a row per student, a column per exercise
    COURSE/gradebook.db                                    nbgrader's gradebook

`grade` runs each submission in its own kernel with a per-cell time limit, so a notebook that
is broken (a syntax error, a deleted cell, an endless loop, code that raises) costs only the
exercises it breaks; an unreadable file scores zero with a line saying so, and grading goes on.
Nothing already in COURSE is overwritten unless asked: `release` refuses to replace a changed
source/ or release/ notebook without --force, and `grade` skips graded submissions without
--regrade.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _editions import Bibliography, build_index, edition
from _editions.answers import STUB_MESSAGE
from _editions.build import dumps
from _editions.release import config_file

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)


class CourseError(RuntimeError):
    """A course folder or a command line this script cannot work with."""


def lessons_of(index, names: list[str]) -> list[str]:
    """The docnames of the lessons named (all if none), with a clear error for a wrong name."""
    lessons = {Path(d).name: d for d in index.notebooks()}
    for name in names:
        if name not in lessons:
            raise CourseError(f"lesson must be one of {sorted(lessons)}, got {name!r}")
    return [lessons[n] for n in names] if names else list(lessons.values())


def nbgrader(
    course: Path, *args: str, timeout: float | None = None
) -> tuple[bool, str]:
    """Run one nbgrader command in the course folder; (succeeded, its log)."""
    # nbgrader runs `alembic` from PATH: this environment's, whatever the caller's PATH is
    env = {**os.environ, "PATH": os.pathsep.join([BIN, os.environ.get("PATH", "")])}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"nbgrader {args[0]} ran longer than {timeout:.0f} s"
    return done.returncode == 0, done.stdout + done.stderr


def _write_new(path: Path, text: str, force: bool) -> None:
    """Write `text` to `path`, refusing to replace different contents unless `force`."""
    if path.exists() and path.read_text(encoding="utf-8") != text and not force:
        raise CourseError(
            f"{path} exists and differs from what release would write; "
            "pass --force to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def release(course: Path, names: list[str], force: bool = False) -> list[Path]:
    """Write each lesson's source version into the course and release it with nbgrader."""
    index = build_index(ROOT)
    bib = Bibliography(ROOT / "book" / "references.bib")
    course.mkdir(parents=True, exist_ok=True)
    _write_new(course / "nbgrader_config.py", config_file(), force)
    released = []
    for docname in lessons_of(index, names):
        name = Path(docname).name
        nb = json.loads(index.paths[docname].read_text(encoding="utf-8"))
        source = dumps(edition(nb, docname, "source", index, bib))
        _write_new(course / "source" / name / f"{name}.ipynb", source, force)
        out = course / "release" / name / f"{name}.ipynb"
        ok, log = nbgrader(course, "generate_assignment", name, "--force")
        if not ok:
            raise CourseError(f"nbgrader could not release {name}:\n{log[-3000:]}")
        released.append(out)
    return released


# grading ----------------------------------------------------------------------------------


@dataclass
class Result:
    """One student's result for one exercise."""

    exercise: str
    score: float
    max_score: float
    why: str


def _text(outputs: list[dict]) -> tuple[str, str | None]:
    """(the printed text, "Name: message" of the error if the cell raised) of a cell."""
    printed, error = "", None
    for out in outputs:
        if out.get("output_type") == "stream":
            printed += "".join(out.get("text", ""))
        elif out.get("output_type") == "error":
            error = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".rstrip(": ")
    return printed, error


def _verdict(printed: str, exercise: str) -> str | None:
    """The last verdict a checker printed for `exercise` (its wrapped lines joined)."""
    verdicts = re.findall(
        rf"^{re.escape(exercise)}: (.*(?:\n    .*)*)", printed, re.MULTILINE
    )
    return " ".join(verdicts[-1].split()) if verdicts else None


def _what_happened(error: str, timeout: float) -> str:
    """What a cell did, from its error ("Name: message")."""
    if error.startswith(("KeyboardInterrupt", "CellTimeoutError", "DeadKernelError")):
        return f"ran longer than the {timeout:g} s limit and was stopped"
    return f"raised {error}"


def explain(autograded: dict, exercise: str, score: float, timeout: float) -> str:
    """Why `exercise` scored what it did, from the autograded notebook's outputs."""
    cells = {
        c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c
        for c in autograded["cells"]
    }
    answer, test = cells.get(f"{exercise}-answer"), cells.get(exercise)
    verdict, test_error = None, None
    if test is not None:
        printed, test_error = _text(test.get("outputs", []))
        verdict = _verdict(printed, exercise)
    if score > 0 and test_error is None:
        return verdict or "correct"
    if verdict and verdict.endswith(f"NotImplementedError: {STUB_MESSAGE}"):
        return "no answer written"  # the function stub, called by the check
    if answer is None:
        return "the answer cell was deleted"
    _, answer_error = _text(answer.get("outputs", []))
    if answer_error and answer_error.startswith("NotImplementedError"):
        return "no answer written (the answer cell still raises NotImplementedError)"
    reasons = []
    # after an answer cell that raised, the check's own error only follows from it
    if answer_error:
        reasons.append(f"your answer cell {_what_happened(answer_error, timeout)}")
    if verdict:
        reasons.append(verdict)
    elif test_error and not answer_error:
        reasons.append(f"the check {_what_happened(test_error, timeout)}")
    return "; ".join(reasons) or "not graded"


def _scores(course: Path, lesson: str, student: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(lesson, lesson, student)
        return {g.name: (g.score, g.max_score) for g in nb.grades if g.max_score > 0}


def _exercises(course: Path, lesson: str) -> dict[str, float]:
    """The graded exercises of a released lesson and their points, in notebook order."""
    source = json.loads(
        (course / "source" / lesson / f"{lesson}.ipynb").read_text(encoding="utf-8")
    )
    return {
        meta["grade_id"]: meta["points"]
        for c in source["cells"]
        for meta in [c.get("metadata", {}).get("nbgrader", {})]
        if meta.get("grade")
    }


def grade_one(
    course: Path, lesson: str, student: str, timeout: float, regrade: bool
) -> list[Result]:
    """Autograde one submission and say, per exercise, what it scored and why."""
    exercises = _exercises(course, lesson)
    path = course / "submitted" / student / lesson / f"{lesson}.ipynb"

    def zero(why: str) -> list[Result]:
        return [Result(e, 0.0, p, why) for e, p in exercises.items()]

    if not path.is_file():
        return zero(f"no submission at {path.relative_to(course)}")
    try:
        import nbformat

        nbformat.validate(nbformat.read(path, as_version=4))
    except Exception as error:  # noqa: BLE001 (any unreadable file scores zero)
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return zero(f"the file is not a notebook that can be read ({first})")
    graded = course / "autograded" / student / lesson / f"{lesson}.ipynb"
    if regrade or not graded.is_file():
        args = ["autograde", lesson, "--student", student, "--force"]
        args.append(f"--Execute.timeout={timeout:g}")
        ok, log = nbgrader(course, *args)
        if not ok or not graded.is_file():
            last = [line for line in log.splitlines() if line.strip()][-1:] or [""]
            return zero(f"the grader could not run this notebook ({last[0][:200]})")
        nbgrader(course, "generate_feedback", lesson, "--student", student, "--force")
    autograded = json.loads(graded.read_text(encoding="utf-8"))
    scores = _scores(course, lesson, student)
    results = []
    for exercise, points in exercises.items():
        score, max_score = scores.get(exercise, (0.0, points))
        results.append(
            Result(
                exercise,
                score,
                max_score,
                explain(autograded, exercise, score, timeout),
            )
        )
    return results


def write_feedback(course: Path, lesson: str, student: str, results: list[Result]):
    """feedback/<student>/<lesson>/feedback.txt: a line per exercise, its score and why."""
    path = course / "feedback" / student / lesson / "feedback.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{r.exercise}: {r.score:g}/{r.max_score:g}: {r.why}\n" for r in results]
    path.write_text("".join(lines), encoding="utf-8")


def grade(
    course: Path, names: list[str], timeout: float = 600, regrade: bool = False
) -> Path:
    """Grade every submission of the lessons named (all released ones if none); write
    grades.csv and the feedback files, and return the table's path."""
    if not (course / "nbgrader_config.py").is_file():
        raise CourseError(f"{course} is not a course folder: run release first")
    if not timeout > 0:
        raise CourseError(
            f"--timeout must be a positive number of seconds, got {timeout}"
        )
    released = sorted(p.name for p in (course / "source").glob("*") if p.is_dir())
    for name in names:
        if name not in released:
            raise CourseError(
                f"lesson must be one of the released {released}, got {name!r}"
            )
    lessons = names or released
    students = sorted(p.name for p in (course / "submitted").glob("*") if p.is_dir())
    columns, rows = [], {s: {} for s in students}
    for lesson in lessons:
        columns += list(_exercises(course, lesson))
        for student in students:
            results = grade_one(course, lesson, student, timeout, regrade)
            write_feedback(course, lesson, student, results)
            for r in results:
                rows[student][r.exercise] = r
    table = course / "grades.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *columns, "total", "max"])
        for student in students:
            results = [rows[student][c] for c in columns]
            writer.writerow(
                [
                    student,
                    *(f"{r.score:g}" for r in results),
                    f"{sum(r.score for r in results):g}",
                    f"{sum(r.max_score for r in results):g}",
                ]
            )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="hand the lessons out as assignments")
    rel.add_argument("course", type=Path)
    rel.add_argument("lessons", nargs="*", help="e.g. 02_posterior (default: all)")
    rel.add_argument("--force", action="store_true", help="replace changed files")
    gr = commands.add_parser("grade", help="grade the submitted notebooks")
    gr.add_argument("course", type=Path)
    gr.add_argument("lessons", nargs="*", help="e.g. 02_posterior (default: all)")
    gr.add_argument(
        "--timeout", type=float, default=600, help="seconds a cell may run (600)"
    )
    gr.add_argument(
        "--regrade", action="store_true", help="grade again what was graded already"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for path in release(args.course, args.lessons, args.force):
                print(path)
        else:
            table = grade(args.course, args.lessons, args.timeout, args.regrade)
            print(table.read_text(encoding="utf-8"), end="")
            print(f"wrote {table} and feedback/<student>/<lesson>/feedback.txt")
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
