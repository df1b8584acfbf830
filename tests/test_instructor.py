"""The instructor's kit (scripts/instructor.py): release a lesson, grade a made-up class.

One lesson is released into a scratch course and six submissions are graded: one right
throughout, one with a classic slip, one broken in three ways (a syntax error, a deleted
test cell, an endless loop), one with an answer of the wrong type, code that raises and a
moved cell, a file that is not a notebook, and the release handed back untouched. The scores must come out exactly, the
feedback must say why, and the released notebook must be the student edition and hold no
answer.
"""

import copy
import csv
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import instructor
from _editions.answers import BEGIN, END

pytest.importorskip("nbgrader")

LESSON = "04_predicting_noise"
TIMEOUT = 30  # seconds a cell may run; every cell of the lesson takes far less

#: Answers a student might write, by exercise (each defines what the test cell checks).
RIGHT_WEIGHT = (
    "linear = ddpm_lite.linear_schedule()\n"
    "lam_10 = float(linear.beta[10] / (2 * linear.alpha[10] * (1 - linear.alpha_bar[10])))"
)
SLIP_WEIGHT = (  # alpha_bar_t for alpha_t in the denominator: a slip the checker names
    "linear = ddpm_lite.linear_schedule()\n"
    "lam_10 = float(\n"
    "    linear.beta[10] / (2 * linear.alpha_bar[10] * (1 - linear.alpha_bar[10]))\n"
    ")"
)
RIGHT_REVERSE_VAR = (
    "linear = ddpm_lite.linear_schedule()\n"
    "var_9 = linear.alpha_bar[9] * 0.25 + 1 - linear.alpha_bar[9]\n"
    "reverse_var = float(var_9 * linear.beta[10] / (linear.alpha[10] * var_9 + linear.beta[10]))"
)
RIGHT_SCORE = (
    "def my_eps_star(x_t, t):\n"
    "    ab = ddpm_lite.linear_schedule().alpha_bar[t]\n"
    "    return (1 - ab).sqrt() * x_t / (0.25 * ab + 1 - ab)"
)


def answer(nb, exercise, code):
    """`nb` with the answer cell of `exercise` holding `code`."""
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"{exercise}-answer":
            cell["source"] = code
            return nb
    raise KeyError(exercise)


def index_of(nb, grade_id):
    return next(
        i
        for i, c in enumerate(nb["cells"])
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course with the lesson released and six submissions graded."""
    root = tmp_path_factory.mktemp("course")
    instructor.release(root, [LESSON])
    released = json.loads(
        (root / "release" / LESSON / f"{LESSON}.ipynb").read_text("utf-8")
    )

    def submit(student, nb):
        path = root / "submitted" / student / LESSON / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(nb if isinstance(nb, str) else json.dumps(nb), "utf-8")

    right = copy.deepcopy(released)
    answer(right, "04-weight", RIGHT_WEIGHT)
    answer(right, "04-reverse-var", RIGHT_REVERSE_VAR)
    answer(right, "04-score", RIGHT_SCORE)
    submit("alice", right)

    slip = copy.deepcopy(right)
    answer(slip, "04-weight", SLIP_WEIGHT)
    submit("bob", slip)

    broken = copy.deepcopy(right)
    answer(broken, "04-weight", "lam_10 = (linear.beta[10]")  # a syntax error
    del broken["cells"][index_of(broken, "04-reverse-var")]  # a deleted test cell
    answer(
        broken, "04-score", "def my_eps_star(x_t, t):\n    while True:\n        pass"
    )
    submit("carol", broken)

    odd = copy.deepcopy(right)
    answer(odd, "04-weight", 'lam_10 = "0.0004"')  # the wrong type
    answer(odd, "04-reverse-var", "reverse_var = 1 / 0")  # code that raises
    moved = odd["cells"].pop(index_of(odd, "04-score-answer"))  # moved up, still first
    odd["cells"].insert(index_of(odd, "04-weight-exercise"), moved)
    submit("dave", odd)

    submit("erin", "{ this is not a notebook")
    submit("fred", released)  # handed back as it was handed out

    table = instructor.grade(root, [LESSON], timeout=TIMEOUT)
    return root, released, table


def feedback(root, student):
    text = (root / "feedback" / student / LESSON / "feedback.txt").read_text("utf-8")
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_scores(course):
    _, _, table = course
    with table.open(encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    columns = ["04-weight", "04-reverse-var", "04-score", "total", "max"]
    got = {s: [float(rows[s][c]) for c in columns] for s in rows}
    assert got == {
        "alice": [1, 1, 2, 4, 4],
        "bob": [0, 1, 2, 3, 4],
        "carol": [0, 1, 0, 1, 4],
        "dave": [0, 0, 2, 2, 4],
        "erin": [0, 0, 0, 0, 4],
        "fred": [0, 0, 0, 0, 4],
    }


def test_feedback_says_why(course):
    root = course[0]
    alice = feedback(root, "alice")
    assert {e: line.split(": ")[:2] for e, line in alice.items()} == {
        "04-weight": ["1/1", "correct"],
        "04-reverse-var": ["1/1", "correct"],
        "04-score": ["2/2", "correct"],
    }
    # the slip is named, by the hint the marking shows
    assert feedback(root, "bob")["04-weight"] == (
        "0/1: not yet: the factor in the denominator is alpha_t, not alpha_bar_t"
    )
    carol = feedback(root, "carol")
    assert carol["04-weight"].startswith("0/1: your answer cell raised SyntaxError")
    assert carol["04-reverse-var"].startswith("1/1: correct")  # its test cell put back
    assert carol["04-score"] == (
        f"0/2: the check ran longer than the {TIMEOUT} s limit and was stopped"
    )
    dave = feedback(root, "dave")
    assert dave["04-weight"] == "0/1: expected a number, got '0.0004'"
    assert dave["04-reverse-var"].startswith(
        "0/1: your answer cell raised ZeroDivisionError: division by zero"
    )
    assert dave["04-score"].startswith("2/2: correct")
    assert all(
        line.startswith("0/") and "not a notebook that can be read" in line
        for line in feedback(root, "erin").values()
    )
    assert set(feedback(root, "fred").values()) == {
        "0/1: no answer written (the answer cell still raises NotImplementedError)",
        "0/2: no answer written",
    }
    for student in ("alice", "bob", "carol", "dave"):  # and nbgrader's own feedback
        assert (root / "feedback" / student / LESSON / f"{LESSON}.html").is_file()


def test_release_is_the_student_edition_and_holds_no_answer(course):
    root, released, _ = course
    student = json.loads(
        (ROOT / "editions" / "student" / "notebooks" / f"{LESSON}.ipynb").read_text(
            "utf-8"
        )
    )
    assert released["cells"] == student["cells"]
    source = json.loads((root / "source" / LESSON / f"{LESSON}.ipynb").read_text())
    text = json.dumps(released)
    solutions = 0
    for cell in source["cells"]:
        lines = [line.strip() for line in "".join(cell["source"]).split("\n")]
        if BEGIN in lines:
            body = lines[lines.index(BEGIN) + 1 : lines.index(END)]
            for line in body:
                if len(line) > 8:  # not a lone bracket
                    assert json.dumps(line)[1:-1] not in text, line
            solutions += 1
    assert solutions == 3
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert re.search(r"\*\*Exercise \d+\*\* \(2 points\)", text)


def test_nothing_is_overwritten_unasked(course):
    root = course[0]
    path = root / "source" / LESSON / f"{LESSON}.ipynb"
    kept = path.read_text("utf-8")
    path.write_text(kept.replace("your answer", "your own answer"), "utf-8")
    with pytest.raises(instructor.CourseError, match="pass --force"):
        instructor.release(root, [LESSON])
    path.write_text(kept, "utf-8")
    # grading again without --regrade reuses what was graded
    graded = root / "autograded" / "alice" / LESSON / f"{LESSON}.ipynb"
    before = graded.stat().st_mtime_ns
    instructor.grade(root, [LESSON], timeout=TIMEOUT)
    assert graded.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["release", "{course}", "99_nothing"], "lesson must be one of"),
        (["grade", "{course}", "02_posterior"], "lesson must be one of the released"),
        (["grade", "{course}", "--timeout", "0"], "--timeout must be a positive"),
        (["grade", "{empty}"], "is not a course folder: run release first"),
    ],
)
def test_bad_input_is_one_line(course, tmp_path, capsys, argv, message):
    argv = [a.format(course=course[0], empty=tmp_path) for a in argv]
    assert instructor.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
