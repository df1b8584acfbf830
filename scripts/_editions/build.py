"""Build the Colab and student editions of every lesson, write them, or check them.

The student edition is released by nbgrader from the lesson's *source* version (the
lesson with its exercises as graded cells, release.py); the source version is not kept in
the repository: scripts/instructor.py writes it into a course folder.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ddpm_lite.exercises import REVEALS

from . import answers, release
from .bib import Bibliography
from .book import Index, build_index, removed
from .myst import convert
from .roles import Context, glue_values

EDITIONS = ("colab", "student")


def _lines(text: str) -> list[str]:
    """A cell source as nbformat stores it: lines with their newlines, the last without."""
    return text.splitlines(keepends=True)


def _where(root: Path, path: Path, number: int, cell: dict) -> str:
    return f"{path.relative_to(root)} cell {number} (id {cell.get('id', '?')})"


def edition(nb: dict, docname: str, name: str, index: Index, bib: Bibliography) -> dict:
    """The `name` edition ("colab", "source" or "student") of the lesson notebook `nb`."""
    if name == "student":
        source = edition(nb, docname, "source", index, bib)
        return release.release(source, Path(docname).name)
    root, path = index.root, index.paths[docname]
    graded = name == "source"
    ctx = Context(index, bib, docname, glue_values(nb), solutions=not graded)
    out = copy.deepcopy(nb)
    cells = []
    for number, cell in enumerate(nb["cells"]):
        if removed(cell):
            continue
        cell = copy.deepcopy(cell)
        ctx.where = _where(root, path, number, cell)
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            source = convert(source, ctx).strip("\n")
            if not source.strip():
                continue  # held nothing but a solution (source and student editions)
        elif cell["cell_type"] == "code":
            if answers.is_answers(cell):
                if graded:
                    cells += [
                        {**c, "source": _lines(c["source"])}
                        for c in answers.assignment_cells(
                            source, index.graded, REVEALS, ctx.where
                        )
                    ]
                    continue
                source = answers.titled(source, answers.COLAB_TITLE)
                cell["metadata"].setdefault("jupyter", {})["source_hidden"] = True
                cell["metadata"]["cellView"] = "form"
            if graded:
                cell["outputs"], cell["execution_count"] = [], None
        cell["source"] = _lines(source)
        cells.append(cell)
    if ctx.cited:
        references = bib.references(ctx.cited)
        cells.append(
            {
                "cell_type": "markdown",
                "id": "references",
                "metadata": {},
                "source": _lines(references),
            }
        )
    out["cells"] = cells
    return out


def dumps(nb: dict) -> str:
    """JSON text as nbformat writes it."""
    text = json.dumps(
        nb, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")
    )
    return text + "\n"


def render_all(root: Path) -> dict[Path, str]:
    """Every edition file (path under `root`) and the text it should hold."""
    index = build_index(root)
    bib = Bibliography(root / "book" / "references.bib")
    files = {}
    for docname in index.notebooks():
        nb = json.loads(index.paths[docname].read_text(encoding="utf-8"))
        for name in EDITIONS:
            target = root / "editions" / name / (docname + ".ipynb")
            files[target] = dumps(edition(nb, docname, name, index, bib))
    return files


def _extra(root: Path, files: dict[Path, str]) -> list[Path]:
    """Edition notebooks on disk that no lesson produces any more."""
    found = set((root / "editions").glob("*/notebooks/*.ipynb"))
    return sorted(found - set(files))


def stale(root: Path) -> list[str]:
    """The edition files that are missing, out of date or left over (empty: all current)."""
    files = render_all(root)
    problems = []
    for path, text in files.items():
        if not path.exists():
            problems.append(f"{path.relative_to(root)} (missing)")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(root)} (out of date)")
    problems += [f"{p.relative_to(root)} (no such lesson)" for p in _extra(root, files)]
    return problems


def write(root: Path) -> list[Path]:
    """Write every edition file (and remove left-over ones); return the paths written."""
    files = render_all(root)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for path in _extra(root, files):
        path.unlink()
    return list(files)
