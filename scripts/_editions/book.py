"""The book's pages in `_toc.yml` order, and the numbers the built book gives their items.

Jupyter Book numbers equations, `prf:*` items and exercises globally, across the whole book
in table-of-contents order (the root page first). sphinx-proof keeps one sequence per kind
(Theorem 1, 2, ... and, separately, Algorithm 1, 2, ... and Definition 1, ...); proofs and
solutions are unnumbered, and only labelled `$$ ... $$ (label)` equations get a number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

#: The numbered sphinx-proof directives this converter knows, with the word the book prints.
PRF_KINDS = {
    "prf:theorem": "Theorem",
    "prf:definition": "Definition",
    "prf:algorithm": "Algorithm",
}
NUMBERED = {**PRF_KINDS, "exercise": "Exercise"}

DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[^}\s]+)\}[ \t]*(?P<arg>.*)$"
)
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
LABELLED_MATH = re.compile(r"\$\$[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$", re.MULTILINE)
H1 = re.compile(r"^# (.+?)\s*$", re.MULTILINE)
CHECK_CALL = re.compile(r"ddpm_lite\.exercises\.check\(\"(?P<id>[^\"]+)\"")
POINTS = re.compile(r"^(?P<n>[1-9]) points?$")


def removed(cell: dict) -> bool:
    """Whether the book drops this cell (tag `remove-cell`); the editions drop it too."""
    return "remove-cell" in cell.get("metadata", {}).get("tags", [])


def toc_docnames(root: Path) -> list[str]:
    """The book's documents ("book/intro", "notebooks/00_getting_started", ...) in toc order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(re.sub(r"\.(md|ipynb)$", "", entry["file"]))
            walk(entry.get("sections"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return names


def source_path(root: Path, docname: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (root / (docname + suffix)).exists():
            return root / (docname + suffix)
    raise FileNotFoundError(
        f"_toc.yml lists {docname}, which is neither .ipynb nor .md"
    )


def markdown_of(path: Path) -> list[str]:
    """The Markdown the book renders from a page: a .md file, or a notebook's Markdown cells."""
    if path.suffix == ".md":
        return [path.read_text(encoding="utf-8")]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "markdown" and not removed(c)
    ]


@dataclass(frozen=True)
class Graded:
    """An exercise graded by a checker: its book number, label and points (from its title)."""

    number: int
    label: str
    points: int


@dataclass
class Index:
    """Numbers and titles of the whole book, as the built HTML prints them."""

    root: Path = Path(".")
    docnames: list[str] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    equations: dict[str, int] = field(default_factory=dict)
    #: label -> (kind word, number), for prf:* directives and exercises.
    items: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: checker id -> the exercise that names it, for exercises graded by a checker.
    graded: dict[str, Graded] = field(default_factory=dict)

    def notebooks(self) -> list[str]:
        """The lessons: the toc's documents that are notebooks."""
        return [d for d in self.docnames if self.paths[d].suffix == ".ipynb"]


def _scan(text: str, index: Index, counters: dict[str, int]) -> None:
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = DIRECTIVE.match(line)
        if not m or m["name"] not in NUMBERED:
            continue
        kind = NUMBERED[m["name"]]
        counters[kind] = counters.get(kind, 0) + 1
        label = None
        for option in lines[i + 1 :]:
            o = OPTION.match(option)
            if not o:
                break
            if o["key"] == "label":
                label = o["value"].strip()
                index.items[label] = (kind, counters[kind])
        if kind == "Exercise":
            _scan_exercise(lines, i, m, label, counters[kind], index)
    for m in LABELLED_MATH.finditer(text):
        counters["equation"] = counters.get("equation", 0) + 1
        index.equations[m["label"]] = counters["equation"]


def _scan_exercise(lines, i, m, label, number, index) -> None:
    """Record an exercise's checker and points. Its title says how many points a checker
    grades it with ("1 point", "2 points") or that it is "not graded" (no checker)."""
    end = next(
        (j for j in range(i + 1, len(lines)) if lines[j].rstrip() == m["fence"]),
        len(lines),
    )
    checks = CHECK_CALL.findall("\n".join(lines[i + 1 : end]))
    title, points = m["arg"].strip(), POINTS.match(m["arg"].strip())
    where = f"exercise {label or number} ({title!r})"
    if checks and (points is None or len(checks) > 1):
        raise ValueError(
            f"{where}: an exercise with a checker is titled with its points "
            f"('1 point', '2 points', ...) and names one checker, got {checks}"
        )
    if not checks and title != "not graded":
        raise ValueError(
            f"{where}: an exercise without a checker is titled 'not graded'"
        )
    if checks:
        index.graded[checks[0]] = Graded(number, label, int(points["n"]))


def build_index(root: Path) -> Index:
    """Scan every page of the book in toc order and number what the book numbers."""
    index, counters = Index(root=root), {}
    for docname in toc_docnames(root):
        path = source_path(root, docname)
        index.docnames.append(docname)
        index.paths[docname] = path
        texts = markdown_of(path)
        title = next((m[1] for t in texts for m in [H1.search(t)] if m), docname)
        index.titles[docname] = title
        for text in texts:
            _scan(text, index, counters)
    return index
