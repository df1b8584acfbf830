"""MyST Markdown (the book's syntax) to the Markdown that JupyterLab, Notebook 7 and Colab render.

Blockquoted boxes are written as `<blockquote>` HTML blocks with blank lines inside rather
than with `> ` prefixes: Jupyter extracts `$$ ... $$` before it parses Markdown, so a `> `
on every line of a display equation would end up in the equation (jupyterlab#16755). For
the same reason `<details>` has a blank line after `<summary>` and before `</details>`.
Anything MyST that is not converted here raises `ConversionError`; none is passed through.
"""

from __future__ import annotations

import ast
import re
import textwrap

from .book import DIRECTIVE, LABELLED_MATH, OPTION, PRF_KINDS
from .roles import ROLE, Context, convert_inline

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})")
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")
#: MyST that must not survive conversion (checked on every converted cell).
LEFTOVER = [
    (ROLE, "role"),
    (re.compile(r"^[ \t>]*(`{3,}|:{3,})\{", re.MULTILINE), "directive fence"),
    (
        re.compile(r"^[ \t>]*:(label|class|pyobject|name):", re.MULTILINE),
        "directive option",
    ),
    (LABELLED_MATH, "labelled equation"),
]
#: A fenced code block (not a directive), whose text is code, not MyST.
CODE_BLOCK = re.compile(
    r"^(`{3,}|~{3,})(?!\{)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL
)
OPTIONS = {
    **{name: {"label"} for name in PRF_KINDS},
    "prf:proof": set(),
    "admonition": {"class"},
    "exercise": {"label"},
    "solution": {"class", "label"},
    "literalinclude": {"pyobject", "language"},
}


def fence_indented_code(body: str) -> str:
    """Turn 4-space indented code blocks (after a blank line, outside lists and display
    math) into ```python blocks, which render the same inside `<details>`."""
    lines, out, i, last_text, in_math = body.split("\n"), [], 0, "", False
    while i < len(lines):
        line = lines[i]
        after_blank = i == 0 or not lines[i - 1].strip()
        if (
            line.startswith("    ")
            and line.strip()
            and after_blank
            and not in_math
            and not last_text.startswith((" ", "\t"))
            and not LIST_ITEM.match(last_text)
        ):
            j = i
            while j < len(lines) and (
                lines[j].startswith("    ") or not lines[j].strip()
            ):
                j += 1
            while not lines[j - 1].strip():
                j -= 1
            out += ["```python", *(code[4:] for code in lines[i:j]), "```"]
            last_text, i = "```", j
            continue
        in_math ^= line.count("$$") % 2 == 1
        out.append(line)
        last_text = line if line.strip() else last_text
        i += 1
    return "\n".join(out)


def _quote(*parts: str) -> str:
    inner = "\n\n".join(p.strip("\n") for p in parts if p.strip())
    return f"<blockquote>\n\n{inner}\n\n</blockquote>"


def _plain_first_line(body: str) -> bool:
    first = body.lstrip("\n").split("\n", 1)[0]
    return bool(first.strip()) and not re.match(
        r"^(\s|\$\$|#|`|~|<|[-*+] |\d+[.)] |\|)", first
    )


def _end_proof(body: str) -> str:
    lines = body.rstrip("\n").split("\n")
    last = lines[-1]
    if last.strip() and not re.match(r"^(\s{4}|.*\$\$\s*$|`{3}|~{3}|\\end|<)", last):
        lines[-1] = last + " \u220e"
        return "\n".join(lines)
    return "\n".join(lines) + "\n\n\u220e"


def _literalinclude(arg: str, options: dict, ctx: Context) -> str:
    path = (ctx.index.paths[ctx.docname].parent / arg.strip()).resolve()
    if not path.is_file():
        ctx.fail(f"literalinclude: no file {path}")
    source = path.read_text(encoding="utf-8")
    language = options.get("language") or {".py": "python"}.get(path.suffix, "")
    if "pyobject" in options:
        nodes, lines = ast.parse(source).body, source.split("\n")
        node = None
        for part in options["pyobject"].split("."):
            node = next((n for n in nodes if getattr(n, "name", None) == part), None)
            if node is None:
                ctx.fail(f"literalinclude: no object {options['pyobject']!r} in {arg}")
            nodes = getattr(node, "body", [])
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        source = textwrap.dedent("\n".join(lines[start - 1 : node.end_lineno]))
    return f"```{language}\n{source.rstrip()}\n```"


def _directive(name: str, arg: str, options: dict, body: str, ctx: Context) -> str:
    if name not in OPTIONS:
        ctx.fail(f"unknown directive {{{name}}}")
    unknown = set(options) - OPTIONS[name]
    if unknown:
        ctx.fail(f"{{{name}}}: unsupported option(s) {sorted(unknown)}")
    if name == "literalinclude":
        return _literalinclude(arg, options, ctx)
    body = convert(fence_indented_code(body), ctx)
    title = convert_inline(arg.strip(), ctx)
    if name in PRF_KINDS or name == "exercise":
        label = options.get("label", "").strip()
        if label not in ctx.index.items:
            ctx.fail(f"{{{name}}} needs a :label: that the book's index knows")
        kind, number = ctx.index.items[label]
        if name == "exercise":
            heading = f"**{kind} {number}**" + (f" ({title})" if title else "")
            return f"{heading}\n\n{body.strip()}"
        heading = f"**{kind} {number}**" + (f" ({title})." if title else ".")
        return _quote(heading, body)
    if name == "prf:proof":
        body = _end_proof(body)
        if _plain_first_line(body):
            return _quote("*Proof.* " + body.lstrip("\n"))
        return _quote("*Proof.*", body)
    if name == "admonition":
        if not title:
            ctx.fail("{admonition} needs a title")
        return _quote(f"**{title}**", body)
    # solution
    if arg.strip() not in ctx.index.items:
        ctx.fail(f"{{solution}} {arg.strip()!r}: no such exercise")
    if not ctx.solutions:
        return ""
    return f"<details>\n<summary>Solution</summary>\n\n{body.strip()}\n\n</details>"


def convert(text: str, ctx: Context) -> str:
    """Convert one Markdown cell (or directive body) from MyST to notebook Markdown."""
    lines, out, plain, i = text.split("\n"), [], [], 0

    def flush():
        if plain:
            out.append(convert_inline("\n".join(plain), ctx))
            plain.clear()

    while i < len(lines):
        line, d, f = lines[i], DIRECTIVE.match(lines[i]), FENCE.match(lines[i])
        if not d and not f:
            plain.append(line)
            i += 1
            continue
        fence = (d or f)["fence"]
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].rstrip() == fence), None
        )
        if end is None:
            ctx.fail(f"unclosed fence {line!r}")
        flush()
        if not d:  # a plain code block: copied as it is
            out.append("\n".join(lines[i : end + 1]))
            i = end + 1
            continue
        options, j = {}, i + 1
        while j < end and OPTION.match(lines[j]):
            m = OPTION.match(lines[j])
            options[m["key"]] = m["value"]
            j += 1
        rendered = _directive(
            d["name"], d["arg"], options, "\n".join(lines[j:end]), ctx
        )
        i = end + 1
        if rendered:
            out.append(rendered)
        elif i < len(lines) and not lines[i].strip():
            i += 1  # a dropped directive takes its blank line with it
    flush()
    result = "\n".join(out)
    prose = CODE_BLOCK.sub("", result)
    for pattern, what in LEFTOVER:
        m = pattern.search(prose)
        if m:
            ctx.fail(f"{what} {m.group(0)!r} left after conversion")
    return result
