"""The code cell tagged `answers`: worked answers (Colab edition) or graded exercises (the
nbgrader source from which the student edition is released)."""

from __future__ import annotations

import ast

TAG = "answers"
COLAB_TITLE = "# @title Worked answers: run this cell to check them"
CHECK = "ddpm_lite.exercises.check"
GLUE = ("glue", "prose.glue", "ddpm_lite.prose.glue")


class AnswersError(ValueError):
    """An `answers` cell the stub generator does not understand."""


def is_answers(cell: dict) -> bool:
    return cell["cell_type"] == "code" and TAG in cell.get("metadata", {}).get(
        "tags", []
    )


def titled(source: str, title: str) -> str:
    """`source` with Colab's `# @title` line first (replacing one already there)."""
    lines = source.split("\n")
    if lines and lines[0].startswith("# @title"):
        lines = lines[1:]
    return "\n".join([title, *lines])


def _check_call(node: ast.AST) -> ast.Call | None:
    """The `ddpm_lite.exercises.check(...)` call that `node` is, if it is one."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) == CHECK:
        return node
    return None


# The nbgrader source version ---------------------------------------------------------------

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: What nbgrader puts in place of a solution region (see scripts/_editions/release.py).
STUB_MESSAGE = "write your answer here"
CODE_STUB = f'raise NotImplementedError("{STUB_MESSAGE}")'


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _defined(node: ast.stmt) -> str | None:
    """The name a top-level `def` or `name = ...` binds (None for anything else)."""
    if isinstance(node, ast.FunctionDef):
        return node.name
    if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    ):
        return node.targets[0].id
    return None


def _solution_def(source: str, node: ast.FunctionDef) -> list[str]:
    """A `def` whose body is a solution region: the signature stays for the student."""
    lines = ast.get_source_segment(source, node, padded=True).split("\n")
    body = node.body[0].lineno - node.lineno
    indent = " " * node.body[0].col_offset
    return [*lines[:body], indent + BEGIN, *lines[body:], indent + END]


def nbgrader_cell(cell_type: str, source: str, grade_id: str, points: int = 0) -> dict:
    """A notebook cell with nbgrader's metadata: an answer cell (points 0) or a test cell."""
    test = points > 0
    return {
        "cell_type": cell_type,
        "id": grade_id,
        "metadata": {
            "nbgrader": {
                "grade": test,
                "grade_id": grade_id,
                "locked": test or cell_type == "markdown",
                "points": points,
                "schema_version": 3,
                "solution": cell_type == "code" and not test,
                "task": False,
            }
        },
        "source": source,
        **({"execution_count": None, "outputs": []} if cell_type == "code" else {}),
    }


def assignment_cells(source: str, graded: dict, reveals: set, where: str) -> list[dict]:
    """The nbgrader source version of an `answers` cell: for each checked answer, a heading
    with its exercise number and points, an answer cell (the worked answer between solution
    markers, with whatever it needs) and a test cell worth the points.

    `graded` maps checker ids to the book's `Graded` exercises; a checker in `reveals` has a
    hint that states the answer, so its test cell shows the verdict only and the graded
    check, with its hint, is a hidden test.
    """
    code = "\n".join(
        line for line in source.split("\n") if not line.startswith("# @title")
    )
    tree = ast.parse(code)
    imports, definitions, checks = [], {}, []
    for node in tree.body:
        name = _defined(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        elif name is not None:
            definitions[name] = node
        elif isinstance(node, ast.Assert) and _check_call(node.test):
            call = _check_call(node.test)
            if (
                len(call.args) != 2
                or call.keywords
                or not isinstance(call.args[0], ast.Constant)
                or not isinstance(call.args[1], ast.Name)
            ):
                raise AnswersError(
                    f"{where}: line {node.lineno}: write the check as "
                    f"`assert {CHECK}(ID, name)` with the answer bound to a name first"
                )
            checks.append((call.args[0].value, call.args[1].id))
        elif not (
            isinstance(node, ast.Assert)
            and isinstance(node.test, ast.UnaryOp)
            and isinstance(node.test.op, ast.Not)
            and _check_call(node.test.operand)
        ) and not (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) in GLUE
        ):
            raise AnswersError(
                f"{where}: line {node.lineno}: cannot grade "
                f"{ast.unparse(node).splitlines()[0]!r} (keep the answers cell to defs, "
                f"assignments, imports, glue(...) and `assert {CHECK}(...)`)"
            )
    for exercise_id, _ in checks:
        if exercise_id not in graded:
            raise AnswersError(
                f"{where}: no exercise of the book names the checker {exercise_id!r}"
            )
    checks.sort(key=lambda check: graded[check[0]].number)  # in the book's order
    done, cells, imported = set(), [], set()
    for exercise_id, name in checks:
        if name not in definitions:
            raise AnswersError(f"{where}: {name!r} is checked but never defined")
        needed, todo = set(), [name]
        while todo:  # the definitions the answer uses, transitively
            current = todo.pop()
            if current in needed or current in done:
                continue
            needed.add(current)
            todo += [n for n in _names(definitions[current]) if n in definitions]
        nodes = [n for n in definitions.values() if _defined(n) in needed]
        used = set().union(*(_names(n) for n in nodes))
        lines = []
        for node in imports:
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
            if bound & used and ast.unparse(node) not in imported:
                imported.add(ast.unparse(node))
                lines.append(ast.unparse(node))
        region = []
        for node in nodes:
            if isinstance(node, ast.FunctionDef):
                if region:
                    lines += [BEGIN, *region, END]
                    region = []
                lines += ["", "", *_solution_def(code, node), "", ""]
            else:
                region.append(ast.get_source_segment(code, node))
        if region:
            if not isinstance(definitions[name], ast.FunctionDef):
                lines.append(f"{name} = None  # your answer")
            lines += [BEGIN, *region, END]
        done |= needed
        exercise = graded[exercise_id]
        points = exercise.points
        heading = (
            f"**Exercise {exercise.number}** ({points} point{'s' * (points > 1)}): "
            f"bind your answer to `{name}` in the cell below; the cell after it checks it."
        )
        visible = f'assert {CHECK}("{exercise_id}", {name})'
        if exercise_id in reveals:
            visible = "\n".join(
                [
                    "# The check with its hint runs when your work is marked.",
                    f'{CHECK}("{exercise_id}", {name}, hint=False)',
                    BEGIN_HIDDEN,
                    f'assert {CHECK}("{exercise_id}", {name})',
                    END_HIDDEN,
                ]
            )
        cells += [
            nbgrader_cell("markdown", heading, f"{exercise_id}-exercise"),
            nbgrader_cell(
                "code", "\n".join(lines).strip("\n"), f"{exercise_id}-answer"
            ),
            nbgrader_cell("code", visible, exercise_id, points),
        ]
    return cells
