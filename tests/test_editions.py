"""The notebook editions (scripts/editions.py): current, free of MyST, numbered like the book.

The Colab and student editions in editions/ are generated from the lessons; these tests check
that the files on disk are what the generator writes now, that no MyST survives, that every
number and citation agrees with the built book (skipped if _build/html is missing), that the
student edition gives no answer away, and that the `answers` cells run: the worked answers
pass their checks, the stubs fail them.
"""

import ast
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from _editions import (
    AnswersError,
    Bibliography,
    Context,
    ConversionError,
    Index,
    assignment_cells,
    build_index,
    convert,
    edition,
    render_all,
    stale,
)
from _editions.answers import is_answers
from _editions.book import Graded

HTML = ROOT / "_build" / "html"
KINDS = ("Theorem", "Definition", "Algorithm", "Exercise")


@pytest.fixture(scope="module")
def index():
    return build_index(ROOT)


@pytest.fixture(scope="module")
def bib():
    return Bibliography(ROOT / "book" / "references.bib")


@pytest.fixture(scope="module")
def editions():
    """{(edition, lesson name): notebook} as the generator makes them now."""
    return {
        (path.parent.parent.name, path.stem): json.loads(text)
        for path, text in render_all(ROOT).items()
    }


def sources(index):
    for docname in index.notebooks():
        yield Path(docname).name, json.loads(index.paths[docname].read_text("utf-8"))


def markdown(nb, references=True):
    cells = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    if not references and cells and cells[-1].get("id") == "references":
        cells = cells[:-1]
    return ["".join(c["source"]) for c in cells]


# 1. up to date ------------------------------------------------------------------------


def test_editions_on_disk_are_up_to_date():
    problems = stale(ROOT)
    assert not problems, "run `python scripts/editions.py`: " + ", ".join(problems)


# 2. no MyST left ----------------------------------------------------------------------

MYST = {
    "role": re.compile(r"\{[A-Za-z][\w:.+-]*\}`"),
    "directive": re.compile(r"^[ \t>]*(`{3,}|:{3,})\{", re.MULTILINE),
    "option": re.compile(r"^[ \t>]*:(label|class):", re.MULTILINE),
    "labelled equation": re.compile(r"\$\$[ \t]*\([^()\s]+\)[ \t]*$", re.MULTILINE),
}


def test_no_raw_myst_in_either_edition(editions):
    assert editions
    for (name, lesson), nb in editions.items():
        for text in markdown(nb):
            for what, pattern in MYST.items():
                m = pattern.search(text)
                assert m is None, f"{name}/{lesson}: raw MyST {what} {m.group(0)!r}"


# 3. numbers and citations as the book prints them ---------------------------------------


def _either(strings):
    """A regex alternation of `strings`, longest first (so no label stops at a prefix)."""
    return "|".join(map(re.escape, sorted(set(strings), key=len, reverse=True)))


def edition_citations(texts, bib):
    """The citations written in an edition, in order: ("t" or "p", ((author, year), ...))."""
    author, year = _either(bib.authors.values()), _either(bib.year.values())
    one_p, one_t = rf"(?:{author}), (?:{year})", rf"(?:{author}) \((?:{year})\)"
    citation = re.compile(
        rf"(?P<p>\({one_p}(?:; {one_p})*\))|(?P<t>{one_t}(?:, {one_t})*)"
    )
    pair = re.compile(rf"({author}),? \(?({year})\)?")
    return [
        ("p" if m["p"] else "t", tuple(pair.findall(m.group(0))))
        for text in texts
        for m in citation.finditer(text)
    ]


def html_numbers(soup):
    eqs = [
        int(re.search(r"\((\d+)\)", s.get_text())[1]) for s in soup.select("span.eqno")
    ]
    items = []
    for span in soup.select("span.caption-number"):
        kind, _, number = span.get_text().strip().rpartition(" ")
        if kind in KINDS:
            items.append((kind, int(number)))
    return eqs, items


def html_citations(soup):
    found = []
    for span in soup.select("span.bibtex-citation"):
        text = span.get_text()
        if text.startswith("["):
            pairs = tuple(
                tuple(a.get_text().rsplit(", ", 1)) for a in span.find_all("a")
            )
            found.append(("p", pairs))
        else:
            found.append(("t", tuple(re.findall(r"(.+?) \[([^\]]+)\](?:, )?", text))))
    return found


@pytest.mark.skipif(not (HTML / "notebooks").is_dir(), reason="the book is not built")
def test_colab_numbers_and_citations_match_the_built_book(editions, bib):
    bs4 = pytest.importorskip("bs4")
    checked = 0
    for (name, lesson), nb in editions.items():
        if name != "colab":
            continue
        soup = bs4.BeautifulSoup(
            (HTML / "notebooks" / f"{lesson}.html").read_text("utf-8"), "html.parser"
        )
        main = soup.find("main") or soup
        eqs, items = html_numbers(main)
        texts = markdown(nb, references=False)
        text = "\n".join(texts)
        assert [int(n) for n in re.findall(r"\\tag\{(\d+)\}", text)] == eqs, lesson
        heading = re.compile(
            rf"^\*\*({'|'.join(KINDS)}) (\d+)\*\*(?: \(.*\))?\.?$", re.MULTILINE
        )
        assert [(k, int(n)) for k, n in heading.findall(text)] == items, lesson
        assert edition_citations(texts, bib) == html_citations(main), lesson
        checked += len(eqs) + len(items)
    assert checked > 0


@pytest.mark.skipif(not (HTML / "book").is_dir(), reason="the book is not built")
def test_references_cells_match_the_book_bibliography(editions, bib):
    bs4 = pytest.importorskip("bs4")
    page = bs4.BeautifulSoup(
        (HTML / "book" / "bibliography.html").read_text("utf-8"), "html.parser"
    )
    book = {
        " ".join(c.find("p").get_text().split()) for c in page.select("div.citation")
    }
    for (name, lesson), nb in editions.items():
        cell = nb["cells"][-1]
        assert cell.get("id") == "references", f"{name}/{lesson}: no References cell"
        for line in "".join(cell["source"]).split("\n")[2:]:
            entry = re.sub(r"^- \*\*.*?\*\*: ", "", line).replace("*", "")
            assert re.sub(r"\\(.)", r"\1", entry) in book, f"{name}/{lesson}: {line}"


# 4. the student edition gives no answer away ------------------------------------------


def answer_bodies(nb):
    """The statements of the top-level functions of a notebook's `answers` cells, except any
    that also appear in its other code cells."""
    other = "\n".join(
        "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "code" and not is_answers(c)
    )
    bodies = []
    for cell in nb["cells"]:
        if is_answers(cell):
            source = "".join(cell["source"])
            for node in ast.parse(source).body:
                if isinstance(node, ast.FunctionDef):
                    for stmt in node.body:
                        text = ast.get_source_segment(source, stmt)
                        if text not in other:
                            bodies.append(text)
    return bodies


def test_student_edition_has_no_solutions(index, editions):
    for lesson, source in sources(index):
        student = editions[("student", lesson)]
        text = json.dumps(student["cells"], ensure_ascii=False)
        assert "<details>" not in text and "<summary>Solution" not in text, lesson
        everything = "\n".join("".join(c["source"]) for c in student["cells"])
        for body in answer_bodies(source):
            assert body not in everything, (
                f"{lesson}: answer {body!r} in the student edition"
            )
        for cell in student["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, lesson


# 5. the answers pass, the stubs fail -----------------------------------------------------


def run_cells(sources, monkeypatch):
    """Run code cells in one fresh namespace, as a grader does (an error stops only its own
    cell); return the verdicts of the checks they make and the errors they raise."""
    import ddpm_lite.exercises

    verdicts, errors, check = [], [], ddpm_lite.exercises.check

    def recording(exercise, answer, hint=True):
        verdicts.append(check(exercise, answer, hint=hint))
        return verdicts[-1]

    monkeypatch.setattr(ddpm_lite.exercises, "check", recording)
    namespace = {}
    exec("import math, torch, ddpm_lite, ddpm_lite.exercises", namespace)  # noqa: S102
    for source in sources:
        try:
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 (recorded, as nbgrader records it)
            errors.append(type(error).__name__)
    return verdicts, errors


def answers_cells(index):
    return [
        (lesson, "".join(c["source"]))
        for lesson, nb in sources(index)
        for c in nb["cells"]
        if is_answers(c)
    ]


def graded_cells(nb):
    """The sources of a source or student edition's nbgrader answer and test cells."""
    return [
        "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "code" and "nbgrader" in c["metadata"]
    ]


def test_answers_pass_and_stubs_fail(index, bib, editions, monkeypatch):
    cells = answers_cells(index)
    assert len(cells) == len(index.notebooks())
    for lesson, source in cells:
        positive = len(
            re.findall(r"^assert ddpm_lite\.exercises\.check\(", source, re.MULTILINE)
        )
        # The lesson's asserts raise if a right answer fails or a slip shown failing passes.
        verdicts, errors = run_cells([source], monkeypatch)
        assert verdicts.count(True) == positive > 0 and not errors, lesson
        # The graded version: worked answers between solution markers pass every check,
        # hidden ones included.
        docname = f"notebooks/{lesson}"
        nb = json.loads(index.paths[docname].read_text("utf-8"))
        graded = graded_cells(edition(nb, docname, "source", index, bib))
        verdicts, errors = run_cells(graded, monkeypatch)
        hidden = sum(s.count("### BEGIN HIDDEN TESTS") for s in graded)
        assert verdicts == [True] * (positive + hidden) and not errors, lesson
        # The student edition: every stub fails its check.
        stubs = graded_cells(editions[("student", lesson)])
        assert len(stubs) == len(graded), lesson
        verdicts, errors = run_cells(stubs, monkeypatch)
        assert len(verdicts) == positive and not any(verdicts), lesson
        assert set(errors) <= {"NotImplementedError", "AssertionError"}, lesson


# 6. the converter on crafted Markdown -----------------------------------------------------


@pytest.fixture
def ctx(tmp_path, bib):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pkg.py").write_text(
        "import os\n\n\n@staticmethod\ndef shown(x):\n    return x + 1\n\n\ndef other():\n    pass\n"
    )
    index = Index(
        root=tmp_path,
        docnames=["book/intro", "notebooks/01_a", "notebooks/02_b"],
        paths={
            "book/intro": tmp_path / "book" / "intro.md",
            "notebooks/01_a": tmp_path / "notebooks" / "01_a.ipynb",
            "notebooks/02_b": tmp_path / "notebooks" / "02_b.ipynb",
        },
        titles={
            "book/intro": "Intro",
            "notebooks/01_a": "01 — A",
            "notebooks/02_b": "02 — B",
        },
        equations={"eq-a": 7},
        items={
            "thm-a": ("Theorem", 3),
            "alg-a": ("Algorithm", 2),
            "ex-a": ("Exercise", 5),
        },
    )
    glue = {
        "loss": {"application/papermill.record/text/plain": "0.123456"},
        "name": {"application/papermill.record/text/plain": "'ring'"},
        "md": {
            "application/papermill.record/text/plain": "x",
            "application/papermill.record/text/markdown": "see {eq}`eq-a`",
        },
    }
    return Context(index, bib, "notebooks/01_a", glue, where="01_a.ipynb cell 4")


def test_theorem_with_labelled_equation(ctx):
    out = convert(
        "```{prf:theorem} A title with $x$\n:label: thm-a\n\nLet\n\n$$\na = b\n$$ (eq-a)\n\nso.\n```",
        ctx,
    )
    assert out == (
        "<blockquote>\n\n**Theorem 3** (A title with $x$).\n\nLet\n\n$$\na = b\n\\tag{7} $$"
        "\n\nso.\n\n</blockquote>"
    )


def test_proof_admonition_algorithm(ctx):
    assert convert("```{prf:proof}\nBy {eq}`eq-a`.\n```", ctx) == (
        "<blockquote>\n\n*Proof.* By Eq. 7. ∎\n\n</blockquote>"
    )
    assert convert("```{prf:proof}\n$$\nx\n$$\n```", ctx).endswith(
        "$$\n\n∎\n\n</blockquote>"
    )
    out = convert(
        "```{admonition} Common mistake: $a$\n:class: warning\n\nText.\n```", ctx
    )
    assert out == "<blockquote>\n\n**Common mistake: $a$**\n\nText.\n\n</blockquote>"
    out = convert(":::{prf:algorithm} Loop\n:label: alg-a\n\n1. **repeat**\n:::", ctx)
    assert out.startswith("<blockquote>\n\n**Algorithm 2** (Loop).\n\n1. **repeat**")


def test_exercise_and_solution(ctx):
    text = (
        "Intro.\n\n```{exercise}\n:label: ex-a\n\nDo it.\n```\n\n"
        "```{solution} ex-a\n:class: dropdown\n\nLike this:\n\n    def f(x):\n\n"
        "        return x\n\nDone.\n```\n\nAfter."
    )
    assert convert(text, ctx) == (
        "Intro.\n\n**Exercise 5**\n\nDo it.\n\n<details>\n<summary>Solution</summary>\n\n"
        "Like this:\n\n```python\ndef f(x):\n\n    return x\n```\n\nDone.\n\n</details>\n\nAfter."
    )
    ctx.solutions = False
    assert convert(text, ctx) == "Intro.\n\n**Exercise 5**\n\nDo it.\n\nAfter."


def test_literalinclude(ctx):
    out = convert("```{literalinclude} ../pkg.py\n:pyobject: shown\n```", ctx)
    assert out == "```python\n@staticmethod\ndef shown(x):\n    return x + 1\n```"


def test_roles(ctx):
    assert convert("{cite:t}`ho2020ddpm`", ctx) == "Ho et al. (2020)"
    assert convert("{cite}`sohl2015deep,ho2020ddpm`", ctx) == (
        "(Ho et al., 2020; Sohl-Dickstein et al., 2015)"
    )
    assert convert("{cite:p}`song2021sde`", ctx) == "(Song et al., 2021b)"
    assert convert(
        "{cite:t}`song2019ncsn` and {cite:t}`vincent2011connection`", ctx
    ) == ("Song and Ermon (2019) and Vincent (2011)")
    assert ctx.cited == [
        "ho2020ddpm",
        "sohl2015deep",
        "ho2020ddpm",
        "song2021sde",
        "song2019ncsn",
        "vincent2011connection",
    ]
    assert convert("{prf:ref}`thm-a` and {prf:ref}`the bound <thm-a>`", ctx) == (
        "Theorem 3 and the bound"
    )
    assert convert("{doc}`02_b`, {doc}`../book/intro`, {doc}`this <02_b>`", ctx) == (
        "[02 — B](02_b.ipynb), *Intro*, [this](02_b.ipynb)"
    )
    assert convert("{glue}`loss` {glue:text}`loss:.2f` {glue:text}`name`", ctx) == (
        "0.123456 0.12 ring"
    )
    assert convert("{glue:md}`md:myst`", ctx) == "see Eq. 7"
    assert convert("$$ a = b $$ (eq-a)", ctx) == "$$ a = b \\tag{7} $$"
    assert convert(
        "$$\nx\n$$\n\n```python\n{eq}`not a role in code`\n```", ctx
    ).endswith("{eq}`not a role in code`\n```")


@pytest.mark.parametrize(
    "text, message",
    [
        ("See {ref}`thm-a`.", "unknown role {ref}"),
        ("{cite}`nobody2000`", "unknown citation key"),
        ("{eq}`eq-missing`", "no labelled equation"),
        ("{doc}`../book/nowhere`", "not a page of the book"),
        ("{glue}`missing`", "glues 'missing'"),
        ("```{note}\nHi.\n```", "unknown directive {note}"),
        ("```{exercise}\n:label: ex-a\n:nonumber:\n\nHi.\n```", "unsupported option"),
        ("```{prf:theorem}\nNo label.\n```", "needs a :label:"),
        ("```{exercise}\n:label: ex-a\n", "unclosed fence"),
        ("   ```{note}\n   Hi.\n   ```", "left after conversion"),
    ],
)
def test_unknown_myst_raises(ctx, text, message):
    with pytest.raises(ConversionError, match=re.escape(message)) as error:
        convert(text, ctx)
    assert str(error.value).startswith("01_a.ipynb cell 4: ")


def test_assignment_cells():
    source = (
        "import math\nfrom scipy.stats import norm\n\n\n"
        'def rate(prior, terms, *, dim: int = 1) -> float:\n    """Doc."""\n'
        "    return prior + terms.sum(dim)\n\n\n"
        "half = 0.5\n"
        "bits = -math.log2(half)\n"
        'glue("bits", bits, ".2f")\n'
        "lam = bits * 2\n"
        'glue("lam", lam, ".2f")\n'
        'assert ddpm_lite.exercises.check("07-rate", rate)\n'
        'assert not ddpm_lite.exercises.check("07-rate", lambda p, t: p)\n'
        'assert ddpm_lite.exercises.check("07-decoder", bits)\n'
    )
    graded = {
        "07-decoder": Graded(4, "ex-b", 1),  # numbered before 07-rate: it comes first
        "07-rate": Graded(5, "ex-a", 2),
    }
    cells = assignment_cells(source, graded, {"07-rate"}, "x")
    meta = [c["metadata"]["nbgrader"] for c in cells]
    assert [(m["grade_id"], m["grade"], m["solution"], m["points"]) for m in meta] == [
        ("07-decoder-exercise", False, False, 0),
        ("07-decoder-answer", False, True, 0),
        ("07-decoder", True, False, 1),
        ("07-rate-exercise", False, False, 0),
        ("07-rate-answer", False, True, 0),
        ("07-rate", True, False, 2),
    ]
    assert cells[0]["source"].startswith(
        "**Exercise 4** (1 point): bind your answer to `bits`"
    )
    # the import the answer uses, a placeholder, then the worked answer as a solution
    assert cells[1]["source"] == (
        "import math\nbits = None  # your answer\n### BEGIN SOLUTION\n"
        "half = 0.5\nbits = -math.log2(half)\n### END SOLUTION"
    )
    assert cells[2]["source"] == 'assert ddpm_lite.exercises.check("07-decoder", bits)'
    assert cells[4]["source"] == (
        "def rate(prior, terms, *, dim: int = 1) -> float:\n"
        '    ### BEGIN SOLUTION\n    """Doc."""\n    return prior + terms.sum(dim)\n'
        "    ### END SOLUTION"
    )
    # a checker whose hint states the answer: the verdict only, the graded check hidden
    assert cells[5]["source"].split("\n")[1:] == [
        'ddpm_lite.exercises.check("07-rate", rate, hint=False)',
        "### BEGIN HIDDEN TESTS",
        'assert ddpm_lite.exercises.check("07-rate", rate)',
        "### END HIDDEN TESTS",
    ]
    with pytest.raises(AnswersError, match="bound to a name"):
        assignment_cells(
            'assert ddpm_lite.exercises.check("07-rate", lambda a, v: a * v)',
            graded,
            set(),
            "x",
        )
    with pytest.raises(AnswersError, match="cannot grade"):
        assignment_cells("for i in range(3):\n    pass", graded, set(), "x")
    with pytest.raises(AnswersError, match="no exercise of the book"):
        assignment_cells(
            'x = 1\nassert ddpm_lite.exercises.check("99-x", x)', graded, set(), "x"
        )


def test_edition_of_a_crafted_notebook(ctx):
    answers = (
        'def f(x):\n    return 2 * x\n\n\nassert ddpm_lite.exercises.check("x", f)'
    )
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "a",
                "metadata": {},
                "source": ["# 01 — A\n", "\n", "{cite:t}`ho2020ddpm`"],
            },
            {
                "cell_type": "code",
                "id": "b",
                "metadata": {"tags": ["remove-cell"]},
                "source": ["1"],
                "outputs": [],
                "execution_count": 1,
            },
            {
                "cell_type": "code",
                "id": "c",
                "metadata": {"tags": ["answers"]},
                "source": [answers],
                "outputs": [
                    {
                        "output_type": "stream",
                        "name": "stdout",
                        "text": ["x: correct\n"],
                    }
                ],
                "execution_count": 2,
            },
            {
                "cell_type": "markdown",
                "id": "d",
                "metadata": {},
                "source": ["```{solution} ex-a\n:class: dropdown\n\nIt.\n```"],
            },
        ],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    colab = edition(nb, "notebooks/01_a", "colab", ctx.index, ctx.bib)
    assert [c["id"] for c in colab["cells"]] == ["a", "c", "d", "references"]
    cell = colab["cells"][1]
    assert cell["metadata"] == {
        "tags": ["answers"],
        "jupyter": {"source_hidden": True},
        "cellView": "form",
    }
    assert (
        "".join(cell["source"])
        == "# @title Worked answers: run this cell to check them\n" + answers
    )
    assert cell["outputs"] and cell["execution_count"] == 2
    assert "".join(colab["cells"][-1]["source"]).startswith(
        "## References\n\n- **Ho et al. (2020)**: Jonathan Ho"
    )
    ctx.index.graded["x"] = Graded(5, "ex-a", 2)
    student = edition(nb, "notebooks/01_a", "student", ctx.index, ctx.bib)
    ids = ["a", "x-exercise", "x-answer", "x", "references"]
    assert [c["id"] for c in student["cells"]] == ids
    heading, answer, test = student["cells"][1:4]
    assert "".join(heading["source"]).startswith("**Exercise 5** (2 points)")
    assert "".join(answer["source"]) == (
        'def f(x):\n    raise NotImplementedError("write your answer here")'
    )
    assert answer["metadata"]["nbgrader"]["solution"] is True
    assert "".join(test["source"]) == 'assert ddpm_lite.exercises.check("x", f)'
    assert test["metadata"]["nbgrader"]["points"] == 2
    assert test["metadata"]["editable"] is False
    assert all(
        c["outputs"] == [] and c["execution_count"] is None
        for c in student["cells"]
        if c["cell_type"] == "code"
    )
