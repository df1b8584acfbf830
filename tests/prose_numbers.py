"""The numerals the prose writes by hand, as tests/test_prose_numbers.py sees them.

The rule: a number in a lesson's Markdown or a book page is either inserted from a
lesson's computation ({glue}`key`, see ddpm_lite/prose.py; a page writes
{glue:text}`../notebooks/NN_name.ipynb::key:s`) or listed, with its source, in
tests/quoted_numbers.toml (a constant quoted from a paper, or a definition). What is not
a claim is not counted: single digits (indices, small counts, orders, names like "2M"),
references to a numbered thing of the book or a paper ("Eq. 12", "Sec. 3.4", "lesson
06"), the lesson number in a title or leading a table row, the number of a list item,
and the text of roles, code spans, labels and link targets. Numbers inside math count
like numbers in prose; ``5.45 \\times 10^{-5}`` is one numeral, and so are 800k and
35.7M.
"""

from __future__ import annotations

import re

# Things that name a numbered item rather than state a quantity.
_LOCATOR = re.compile(
    r"\b(?:Secs?|Sections?|Eqs?|Equations?|Alg|Algorithms?|Tables?|Tab|Figs?|Figures?"
    r"|App|Appendix|Lessons?|lessons?|Exercises?|Theorems?|Chapters?|Ch|Step|Steps"
    r"|Definition|Proposition|Lemma|Corollary)\.?\s*\(?"
    r"[A-Z]?\d+(?:\.\d+)*\)?(?:\s*(?:[-–,]|and|to)\s*\(?[A-Z]?\d+(?:\.\d+)*\)?)*"
)
_ROLE = re.compile(r"\{[A-Za-z][\w:.+-]*\}`[^`]*`")
_CODE = re.compile(r"``.+?``|`[^`]*`")
_LABEL = re.compile(r"\$\$\s*\([\w-]+\)|\\(?:tag|label)\{[^}]*\}")
_LINK = re.compile(r"\]\([^)]*\)|<[^>\n]*>")
_FENCE = re.compile(r"^(`{3,}|~{3,})(\{[^}]*\})?", re.M)
_OPTION = re.compile(r"^:[\w-]+:.*$", re.M)
_TITLE = re.compile(r"\A\s*#\s+\d+\b")
_NAME = re.compile(  # labels (ex-08-sigma), names with a number (CIFAR-10), years of a citation
    r"\b(?:ex|eq|thm|alg|def|fig|sec)-[\w-]+|\b[A-Z][A-Za-z]*-\d+\b|et al\.?,?\s*\(?\d{4}[a-z]?\)?"
)
_INDENTED = re.compile(
    r"(?:(?<=\n\n)|\A)(?: {4}.*(?:\n|\Z))+"
)  # an indented code block
# In math: a \times 10^{b}, 10^{b} and 10^b become one numeral, written as "ae-b".
_SCI = re.compile(
    r"(?:(\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|×)\s*)?10\^\{?\s*(-|−)?\s*(\d+)\s*\}?"
)
# A number, with an optional exponent, percent sign or multiplier (800k, 35.7M).
_NUMBER = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e-?\d+)?(?:\s?%|[kMG])?(?![\w])"
)
# "12. " opening a list item, and a table row led by a lesson number ("| 05 | ...")
_LIST_ITEM = re.compile(r"^[ \t]*\d+\.(?=[ \t])", re.M)
_LESSON_CELL = re.compile(r"^\|\s*\d{2}\s*\|", re.M)


_SKIPPED = (_TITLE, _OPTION, _FENCE, _INDENTED, _ROLE, _CODE, _LABEL, _LINK, _NAME)
_SKIPPED += (_LOCATOR, _LIST_ITEM, _LESSON_CELL)


def _sci(m: re.Match) -> str:
    mantissa, minus, power = m.group(1), m.group(2), m.group(3)
    return f" {mantissa or '1'}e{'-' if minus else ''}{power} "


def _normal(token: str) -> str:
    return token.replace(",", "").replace(" ", "")


def numerals(markdown: str) -> list[str]:
    """The numerals of one Markdown cell that the rule counts, normalised ("1,797" -> "1797",
    "10^{-4}" -> "1e-4", "5 %" -> "5%"), in order of appearance."""
    text = markdown
    for skipped in _SKIPPED:  # in order: roles before code spans, names before locators
        text = skipped.sub(" ", text)
    text = _SCI.sub(_sci, text)
    found = []
    for m in _NUMBER.finditer(text):
        token = _normal(m.group(0))
        if re.fullmatch(r"\d[kMG]?", token):  # a small count, or a name like "2M"
            continue
        found.append(token)
    return found
