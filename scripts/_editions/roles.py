"""MyST roles ({cite}, {eq}, {prf:ref}, {doc}, {glue}) as the text the built book prints.

`{eq}` becomes "Eq. 31", as the book writes it (`math_eqref_format` in _config.yml; the
equation itself carries `\\tag{31}`, shown as "(31)"); `{prf:ref}` the kind and
number, "Theorem 11"; `{doc}` a link to the sibling edition notebook, or a book page's title
in italics; `{glue:*}` the value the notebook's outputs stored. Any other role raises.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import dataclass, field

from .bib import Bibliography
from .book import LABELLED_MATH, Index

ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w:.+-]*)\}`(?P<content>[^`]*)`")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
GLUE_MIME = "application/papermill.record/"


class ConversionError(ValueError):
    """Source Markdown that the converter cannot express without MyST."""


@dataclass
class Context:
    """What converting one notebook needs, and what it collects (the keys it cites)."""

    index: Index
    bib: Bibliography
    docname: str
    glue: dict[str, dict]
    solutions: bool = True  # False: the student edition, which drops them
    where: str = ""
    cited: list[str] = field(default_factory=list)

    def fail(self, message: str):
        raise ConversionError(f"{self.where}: {message}")


def glue_values(nb: dict) -> dict[str, dict]:
    """The values `glue()` stored in a notebook's outputs, by key (their mime bundles)."""
    values = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                values[name] = out.get("data", {})
    return values


def _explicit(content: str) -> tuple[str | None, str]:
    m = EXPLICIT.match(content)
    return (m["text"], m["target"].strip()) if m else (None, content.strip())


def _cite(name: str, content: str, ctx: Context) -> str:
    keys = [k.strip() for k in content.split(",")]
    for key in keys:
        if key not in ctx.bib or "{" in key:
            ctx.fail(f"{{{name}}}`{content}`: unknown citation key {key!r}")
    ctx.cited.extend(keys)
    if name == "cite:t":
        return ctx.bib.textual(keys)
    return ctx.bib.parenthetical(keys)


def _eq(name: str, content: str, ctx: Context) -> str:
    label = content.strip()
    if label not in ctx.index.equations:
        ctx.fail(f"{{eq}}`{content}`: no labelled equation {label!r} in the book")
    return f"Eq. {ctx.index.equations[label]}"


def _prf_ref(name: str, content: str, ctx: Context) -> str:
    text, label = _explicit(content)
    item = ctx.index.items.get(label)
    if item is None or item[0] == "Exercise":
        ctx.fail(
            f"{{prf:ref}}`{content}`: no theorem, definition or algorithm {label!r}"
        )
    return convert_inline(text, ctx) if text else f"{item[0]} {item[1]}"


def _doc(name: str, content: str, ctx: Context) -> str:
    text, target = _explicit(content)
    if target.startswith("/"):
        docname = posixpath.normpath(target.lstrip("/"))
    else:
        docname = posixpath.normpath(
            posixpath.join(posixpath.dirname(ctx.docname), target)
        )
    if docname not in ctx.index.paths:
        ctx.fail(f"{{doc}}`{content}`: {docname!r} is not a page of the book")
    text = convert_inline(text, ctx) if text else ctx.index.titles[docname]
    if docname in ctx.index.notebooks():
        return f"[{text}]({posixpath.basename(docname)}.ipynb)"
    return f"*{text}*"  # a page of the book only: no edition of it to link to


def _format_plain_text(text: str, fmt: str) -> str:
    """myst-nb's `{glue:text}` formatting (myst_nb.core.variables.format_plain_text)."""
    try:
        value = ast.literal_eval(text)  # removes the quotes around a string
    except (SyntaxError, ValueError):
        value = text
    if fmt == "":
        return str(value)
    if fmt[-1] == "s":
        value = str(value)
    elif fmt[-1] in "bcdoxX":
        value = int(value)
    elif fmt[-1] in "eEfFgGn%":
        value = float(value)
    return format(value, fmt)


def _glue(name: str, content: str, ctx: Context) -> str:
    key, fmt = content.strip(), None
    if name in ("glue:text", "glue:md") and ":" in key:
        key, fmt = key.rsplit(":", 1)
    data = ctx.glue.get(key)
    if data is None:
        ctx.fail(f"{{{name}}}`{content}`: no output of this notebook glues {key!r}")
    mime = GLUE_MIME + ("text/markdown" if name == "glue:md" else "text/plain")
    if mime not in data:
        ctx.fail(f"{{{name}}}`{content}`: {key!r} has no {mime} value")
    value = "".join(data[mime])
    if name == "glue:md":
        if fmt not in (None, "myst", "commonmark", "gfm"):
            ctx.fail(f"{{glue:md}}`{content}`: unknown format {fmt!r}")
        return convert_inline(value.strip(), ctx) if fmt == "myst" else value.strip()
    if name == "glue:text":
        try:
            return _format_plain_text(value, "s" if fmt is None else fmt)
        except (ValueError, TypeError) as error:
            ctx.fail(f"{{glue:text}}`{content}`: cannot format {value!r}: {error}")
    return value


ROLES = {
    "cite": _cite,
    "cite:p": _cite,
    "cite:t": _cite,
    "eq": _eq,
    "prf:ref": _prf_ref,
    "doc": _doc,
    "glue": _glue,
    "glue:any": _glue,
    "glue:text": _glue,
    "glue:md": _glue,
}


def _number_equation(m: re.Match, ctx: Context) -> str:
    label = m["label"]
    if label not in ctx.index.equations:
        ctx.fail(f"equation label {label!r} is not in the book's index")
    return f"\\tag{{{ctx.index.equations[label]}}} $$"


def convert_inline(text: str, ctx: Context) -> str:
    """Replace roles and number labelled equations in Markdown that holds no directive."""

    def role(m: re.Match) -> str:
        handler = ROLES.get(m["name"])
        if handler is None:
            ctx.fail(f"unknown role {{{m['name']}}}`{m['content']}`")
        return handler(m["name"], m["content"], ctx)

    text = ROLE.sub(role, text)
    return LABELLED_MATH.sub(lambda m: _number_equation(m, ctx), text)
