"""The code cell tagged `answers`: worked answers (Colab edition) or stubs (student edition)."""

from __future__ import annotations

import ast
import copy
import shutil
import subprocess
import sys
from pathlib import Path

TAG = "answers"
COLAB_TITLE = "# @title Worked answers: run this cell to check them"
STUDENT_TITLE = "# @title Your answers: write them here, then run this cell"
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


def ruff_format(code: str) -> str:
    """`code` as `ruff format --line-length 88` writes it (the project's settings, whatever
    the working directory)."""
    ruff = Path(sys.executable).with_name("ruff")
    ruff = str(ruff) if ruff.exists() else shutil.which("ruff")
    if ruff is None:
        raise AnswersError(
            "ruff is needed to format the student stubs; it is not installed"
        )
    done = subprocess.run(
        [
            ruff,
            "format",
            "--isolated",
            "--line-length",
            "88",
            "--target-version",
            "py39",
            "-",
        ],
        input=code,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def stubs(source: str, where: str = "answers cell") -> str:
    """The student's version of an `answers` cell: signatures and names, no answers.

    Top-level `def f(...)` keeps its signature with the body
    `raise NotImplementedError("your answer: write f")`; `name = <expr>` becomes
    `name = None  # your answer`; imports stay; `assert ddpm_lite.exercises.check(ID, name)`
    becomes the bare call (it prints a verdict and a hint); `assert not ...check(...)`
    (a slip shown failing) is dropped, and so are `glue(...)` calls and the assignments only
    they read (numbers of a worked solution, which the student edition leaves out). Anything else raises
    `AnswersError`.
    """
    tree = ast.parse(
        "\n".join(
            line for line in source.split("\n") if not line.startswith("# @title")
        )
    )
    # names a glue(...) call reads and no check reads: numbers of a worked solution only
    checked, glued = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in (CHECK, *GLUE):
            names = {
                n.id for a in node.args for n in ast.walk(a) if isinstance(n, ast.Name)
            }
            (checked if ast.unparse(node.func) == CHECK else glued).update(names)
    solution_only = glued - checked
    out = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(ast.unparse(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stub = copy.deepcopy(node)
            message = ast.Constant(f"your answer: write {node.name}")
            raise_ = ast.Raise(ast.Call(ast.Name("NotImplementedError"), [message], []))
            stub.body = [raise_]
            out.append(ast.unparse(ast.fix_missing_locations(stub)))
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            if node.targets[0].id not in solution_only:
                out.append(f"{node.targets[0].id} = None  # your answer")
        elif isinstance(node, ast.Assert) and _check_call(node.test):
            call = _check_call(node.test)
            if (
                len(call.args) != 2
                or call.keywords
                or not isinstance(call.args[1], ast.Name)
            ):
                raise AnswersError(
                    f"{where}: line {node.lineno}: write the check as "
                    f"`assert {CHECK}(ID, name)` with the answer bound to a name first"
                    " (an inline answer would show in the student edition)"
                )
            out.append(ast.unparse(call))
        elif (
            isinstance(node, ast.Assert)
            and isinstance(node.test, ast.UnaryOp)
            and isinstance(node.test.op, ast.Not)
            and _check_call(node.test.operand)
        ):
            continue  # a wrong answer shown failing: it would give the right one away
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) in GLUE
        ):
            continue  # a number of a worked solution, for the solution's text
        else:
            raise AnswersError(
                f"{where}: line {node.lineno}: cannot make a stub of "
                f"{ast.unparse(node).splitlines()[0]!r} (keep the answers cell to defs, "
                f"assignments, imports, glue(...) and `assert {CHECK}(...)`)"
            )
    return ruff_format("\n".join(out)).rstrip("\n")
