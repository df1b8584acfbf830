"""Every number the prose writes is computed by a lesson or quoted with its source.

A lesson inserts what it measures with ``ddpm_lite.prose.glue`` and {glue}`key`; a book
page inserts a lesson's number with {glue:text}`../notebooks/NN_name.ipynb::key:s`. The
numbers the prose may write by hand (constants of the papers, definitions, the settings
a sentence describes) are listed in tests/quoted_numbers.toml, each with where it comes
from ([all] for everywhere, [NN] for one lesson, [book] for the pages). The tables of
book/performance.md are written by benchmarks/performance.py; only its prose is read
here. tests/prose_numbers.py says which numerals count.
"""

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from prose_numbers import numerals

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))
GENERATED = re.compile(r"<!-- part:(\w+) -->.*?<!-- end:\1 -->", re.S)
QUOTED = tomllib.loads((ROOT / "tests" / "quoted_numbers.toml").read_text())


def markdown_cells(path: Path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "markdown":
            yield i, "".join(cell["source"])


def page_text(path: Path) -> str:
    # what a person wrote: the parts a benchmark script writes are left out
    return GENERATED.sub(" ", path.read_text())


def allowed(section: str) -> dict[str, str]:
    return {**QUOTED.get("all", {}), **QUOTED.get(section, {})}


def test_the_scanner_counts_claims_and_skips_references():
    assert numerals("The distance is 17.6, against a floor of 23.6.") == [
        "17.6",
        "23.6",
    ]
    assert numerals("$\\beta_1 = 10^{-4}$ and $5.45 \\times 10^{-5}$") == [
        "1e-4",
        "5.45e-5",
    ]
    assert numerals("1,797 digits, 12 % of them") == ["1797", "12%"]
    assert numerals("800k steps and 35.7M parameters; DPM-Solver++ 2M") == [
        "800k",
        "35.7M",
    ]
    assert numerals("12. **A slip.** off by 12\n| 05 | build it, 35 of them |") == [
        "12",
        "35",
    ]
    skipped = (
        "# 08 · DDIM\n\nSee Eq. 12, Sec. 3.4, Table 2, lesson 06 and Eqs. 6–7 of "
        "{cite:t}`ho2020`; on CIFAR-10 ({glue}`fd`, `x = 300`), step 3 of 5.\n\n"
        "    beta = torch.linspace(1e-4, 0.02, 1000)\n\n"
        "$$ x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 $$ (eq-01-closed)\n"
        "```{solution} ex-08-sigma\n:class: dropdown\n```"
    )
    assert numerals(skipped) == []


def test_every_quoted_number_has_a_source_and_is_used():
    used = {
        path.name[:2]: {t for _, text in markdown_cells(path) for t in numerals(text)}
        for path in LESSONS
    }
    used["book"] = {t for path in PAGES for t in numerals(page_text(path))}
    everywhere = set().union(*used.values())
    for section, entries in QUOTED.items():
        assert section == "all" or section in used, f"no lesson {section!r}"
        for token, source in entries.items():
            assert isinstance(source, str) and len(source.split()) >= 3, (
                f"[{section}] {token!r}: say where the number comes from"
            )
            pool = everywhere if section == "all" else used[section]
            assert token in pool, (
                f"[{section}] {token!r} is listed but no prose uses it"
            )


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_prose_writes_no_number_it_does_not_compute_or_quote(path):
    ok = allowed(path.name[:2])
    stray = [
        f"cell {i}: {token}"
        for i, text in markdown_cells(path)
        for token in numerals(text)
        if token not in ok
    ]
    assert not stray, (
        f"{path.name}: numbers written by hand; insert each from the computation "
        f"(ddpm_lite.prose.glue and {{glue}}`key`) or quote it with its source in "
        f"tests/quoted_numbers.toml:\n  " + "\n  ".join(stray)
    )


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")
# a page's insertion of a lesson's number, {glue:text}`../notebooks/NN_name.ipynb::key:s`
# (the format, :s, is needed: without it the role reads the key as the format)
PASTE_ROLE = re.compile(
    r"\{glue:text\}`\.\./notebooks/([^`:]+\.ipynb)::([^`:]+)(?::[^`]*)?`"
)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_book_pages_write_no_number_they_do_not_insert_or_quote(path):
    ok = allowed("book")
    stray = [token for token in numerals(page_text(path)) if token not in ok]
    assert not stray, (
        f"book/{path.name}: numbers written by hand; insert each from the lesson "
        f"that computes it ({{glue:text}}`../notebooks/NN_name.ipynb::key:s`) or quote "
        f"it with its source in [book] of tests/quoted_numbers.toml: {stray}"
    )


def pasted() -> list[tuple[str, str, str]]:  # (page, notebook, key)
    return [
        (page.name, notebook, key)
        for page in PAGES
        for notebook, key in PASTE_ROLE.findall(page.read_text())
    ]


def test_what_a_page_inserts_is_stored_as_plain_text_by_its_lesson():
    for page, notebook, key in pasted():
        path = ROOT / "notebooks" / notebook
        assert path.exists(), f"book/{page}: no lesson {notebook}"
        stored = dict(stored_glue_text(path))
        assert key in stored, f"book/{page}: {notebook} stores no {key!r}"
        # glue:text from another page reads the text as a Python literal: a comma would
        # turn 1,797 into a tuple
        assert "," not in stored[key], f"book/{page}: {key!r} = {stored[key]!r}"


def stored_glue_text(path: Path) -> list[tuple[str, str]]:
    nb = json.loads(path.read_text())
    return [
        (
            out["metadata"]["scrapbook"]["name"],
            out["data"].get("application/papermill.record/text/plain", ""),
        )
        for cell in nb["cells"]
        for out in cell.get("outputs", [])
        if "scrapbook" in out.get("metadata", {})
    ]


def stored_glue(path: Path) -> list[str]:
    return [name for name, _ in stored_glue_text(path)]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_inserted_number_is_stored_once_and_used(path):
    stored = stored_glue(path)
    twice = sorted({k for k in stored if stored.count(k) > 1})
    assert not twice, f"{path.name}: glued more than once: {twice}"
    used = {k for _, text in markdown_cells(path) for k in GLUE_ROLE.findall(text)}
    used |= {key for _, notebook, key in pasted() if notebook == path.name}
    assert not used - set(stored), (
        f"{path.name}: the prose inserts {sorted(used - set(stored))}, which no "
        "stored output holds (re-execute the lesson)"
    )
    assert not set(stored) - used, (
        f"{path.name}: glued but never inserted: {sorted(set(stored) - used)}"
    )


def test_glue_stores_the_formatted_text_where_the_book_reads_it(monkeypatch):
    from ddpm_lite import prose

    shown = []
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    monkeypatch.setattr(
        "IPython.display.display", lambda data, **kw: shown.append((data, kw))
    )
    assert prose.glue("fd", np.float64(17.649), ".1f") == "17.6"
    assert prose.glue("n", torch.tensor(1797), ",") == "1,797"
    data, kw = shown[0]
    assert data == {"application/papermill.record/text/plain": "17.6"}
    assert kw["metadata"]["scrapbook"]["name"] == "fd"
    assert kw["raw"] is True
    # a cell that ends with glue(...) shows no echo of the text
    assert hasattr(prose.glue("quiet", 1.0), "_ipython_display_")
    with pytest.raises(ValueError, match="name"):
        prose.glue("not a key", 1.0)
    with pytest.raises(ValueError, match="fmt"):
        prose.glue("x", 1.0, "d")
    with pytest.raises(TypeError, match="value"):
        prose.glue("x", torch.zeros(3))
    with pytest.raises(TypeError, match="value"):
        prose.glue("x", True)
