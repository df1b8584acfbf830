"""Notebook editions of the lessons (Colab, student) generated from the book's MyST sources.

See scripts/editions.py. Modules: `book` (the toc and the book's numbering), `bib`
(citations), `roles` and `myst` (the Markdown converter), `answers` (the `answers` cell), `release`
(nbgrader's settings and the student edition it releases),
`build` (the notebooks, written or checked).
"""

from .answers import AnswersError, assignment_cells
from .bib import Bibliography
from .book import Index, build_index
from .build import edition, render_all, stale, write
from .myst import convert
from .roles import Context, ConversionError

__all__ = [
    "AnswersError",
    "Bibliography",
    "Context",
    "ConversionError",
    "Index",
    "assignment_cells",
    "build_index",
    "convert",
    "edition",
    "render_all",
    "stale",
    "write",
]
