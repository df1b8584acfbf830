"""Citations as the book prints them (sphinxcontrib-bibtex, `bibtex_reference_style: author_year`).

The book labels a citation by the authors' last names ("Ho", "Song and Ermon", "Ho et al.")
and the bib file's `year` field exactly as written: the 2021a/2021b of the two Song et al.
papers are in references.bib itself, and two papers with the same authors and year that lack
such letters (Lu et al. 2022) both print as "Lu et al., 2022". Several works cited together
are listed in the bibliography's order (pybtex `alpha` style, sorted by author, year, title),
whatever order the source gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pybtex.backends import markdown, plaintext
from pybtex.database import parse_file
from pybtex.plugin import find_plugin
from pybtex.richtext import Text


class _Markdown(markdown.Backend):
    """pybtex's Markdown backend, escaping only what Jupyter's Markdown would misread."""

    symbols: ClassVar[dict[str, str]] = {
        "ndash": "\u2013",
        "newblock": " ",
        "nbsp": " ",
    }

    def format_str(self, text):
        for char in "\\`*_[]$":
            text = text.replace(char, "\\" + char)
        return text.replace("<", "&lt;")


_TEXT = plaintext.Backend()


def _last_names(entry) -> list[str]:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    return [
        Text.from_latex(" ".join(p.prelast_names + p.last_names)).render(_TEXT)
        for p in persons
    ]


class Bibliography:
    """The entries of references.bib, with the book's short labels and full entries."""

    def __init__(self, path: Path):
        data = parse_file(str(path))
        style = find_plugin("pybtex.style.formatting", "alpha")()
        entries = list(style.sort(data.entries.values()))
        self.order = {e.key: i for i, e in enumerate(entries)}
        self.year = {e.key: e.fields["year"] for e in entries}
        self.authors = {}
        for e in entries:
            names = _last_names(e)
            if len(names) >= 3:
                self.authors[e.key] = names[0] + " et al."
            else:
                self.authors[e.key] = " and ".join(names)
        backend = _Markdown()
        self.full = {
            f.key: f.text.render(backend) for f in style.format_entries(entries)
        }

    def __contains__(self, key: str) -> bool:
        return key in self.order

    def sorted(self, keys) -> list[str]:
        """Distinct keys in the order the book lists them."""
        return sorted(set(keys), key=self.order.__getitem__)

    def textual(self, keys) -> str:
        """`{cite:t}`: "Ho et al. (2020)"."""
        return ", ".join(
            f"{self.authors[k]} ({self.year[k]})" for k in self.sorted(keys)
        )

    def parenthetical(self, keys) -> str:
        """`{cite}`, `{cite:p}`: "(Ho et al., 2020; Sohl-Dickstein et al., 2015)"."""
        inner = "; ".join(
            f"{self.authors[k]}, {self.year[k]}" for k in self.sorted(keys)
        )
        return f"({inner})"

    def references(self, keys) -> str:
        """The "## References" cell listing `keys`: short label, then the full entry."""
        items = [
            f"- **{self.textual([k])}**: {self.full[k]}" for k in self.sorted(keys)
        ]
        return "## References\n\n" + "\n".join(items)
