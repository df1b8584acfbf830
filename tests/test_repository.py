"""The repository is consistent with itself: one repository URL, lessons that follow the template."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def repository_url() -> str:
    return re.search(
        r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M
    ).group(1)


def test_every_lesson_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    assert LESSONS
    for path in LESSONS:
        assert f"notebooks/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"


def test_lessons_follow_the_template():
    url = repository_url()
    for path in LESSONS:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        first = "".join(code[0]["source"])
        assert '"google.colab" in sys.modules' in first and f"git+{url}" in first, (
            path.name
        )
        headings = [
            "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
        ]
        h1 = [
            line
            for text in headings
            for line in text.splitlines()
            if line.startswith("# ")
        ]
        assert len(h1) == 1, f"{path.name} must have exactly one H1, has {h1}"
        setup = "".join(code[1]["source"])
        for call in ("pick_device(", "run_mode(", "seed_everything("):
            assert call in setup, f"{path.name}: the setup cell must call {call}...)"
        counts = [
            c.get("execution_count") for c in code if "".join(c["source"]).strip()
        ]
        # Committed as run top to bottom in one fresh kernel: nbval compares nothing for a cell
        # without stored outputs, so an unexecuted lesson would pass it silently.
        assert counts == list(range(1, len(counts) + 1)), (
            f"{path.name}: re-execute it (counts {counts[:5]}...)"
        )
        for cell in code:
            assert not any(
                o.get("output_type") == "error" for o in cell.get("outputs", [])
            ), path.name
            assert not "".join(cell["source"]).lstrip().startswith("# NBVAL"), (
                "use cell tags, not # NBVAL comments"
            )
        for text in headings:  # a backtick in a fence's first line ends the fence: the block renders as code
            fences = [line for line in text.splitlines() if line.startswith("```{")]
            assert not any("`" in line[3:] for line in fences), (
                f"{path.name}: backtick in {fences}"
            )
        for text in (
            headings
        ):  # a titled box needs {admonition}; {warning} would print the title as text
            assert "{warning} Common mistake" not in text, (
                f"{path.name}: write Common mistake boxes as admonitions"
            )


def test_readme_points_to_the_same_repository():
    assert repository_url() in (ROOT / "README.md").read_text()


def test_figure_text_is_never_below_8_points():
    """Figures are drawn at 100 dpi and shown at 85 % or more of their size (the browser test),
    so 8-point text is at least 9 px on the page: no lesson or plot helper asks for less."""
    sources = [(ROOT / "ddpm_lite" / "plots.py").read_text()] + [
        "".join(c["source"])
        for path in LESSONS
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    sizes = [
        float(m) for text in sources for m in re.findall(r"fontsize=([\d.]+)", text)
    ]
    assert sizes and min(sizes) >= 8, sorted(sizes)[:5]
    assert not any(re.search(r"fontsize=[\"'](x+-)?small", t) for t in sources)


def test_every_exercise_checker_has_a_worked_answer():
    """Each registered checker is run on a worked answer in a lesson's `answers` cell, so
    the student edition has a stub for every exercise that can be checked."""
    import ddpm_lite.exercises

    answered = set()
    for path in LESSONS:
        for cell in json.loads(path.read_text())["cells"]:
            if "answers" in cell["metadata"].get("tags", []):
                answered |= set(
                    re.findall(
                        r'^assert ddpm_lite\.exercises\.check\(\s*"([\w-]+)"',
                        "".join(cell["source"]),
                        re.M,
                    )
                )
    assert answered == set(ddpm_lite.exercises.EXERCISES), sorted(
        set(ddpm_lite.exercises.EXERCISES) ^ answered
    )


def matches(pattern: re.Pattern) -> list[str]:
    """Where `pattern` occurs in what a reader or user reads: lessons, pages, docstrings."""
    texts = {
        p: p.read_text()
        for glob in ("notebooks/*.ipynb", "book/*.md", "ddpm_lite/**/*.py", "*.md")
        for p in ROOT.glob(glob)
    }
    return [
        f"{p.relative_to(ROOT)}: {m.group(0)!r}"
        for p, text in texts.items()
        for m in pattern.finditer(text)
    ]


def test_only_the_subject_reaches_the_reader():
    """No word of how the course was made: where its notes came from, errata numbering."""
    making = re.compile(
        r"source notes?|commissioned|\bERRATA\b|\bseeds?/|shared/|the project's goal",
        re.I,
    )
    found = matches(making)
    assert not found, "\n".join(found)


def test_two_papers_of_one_year_are_told_apart():
    """Song et al. wrote DDIM (2021a) and the score SDE paper (2021b); Lu et al. both
    DPM-Solver papers (2022a, 2022b). A citation written by hand names which."""
    bare = re.compile(r"(?:Song|Lu) et al\.?,? \(?(?:2021|2022)(?![ab])")
    found = matches(bare)
    assert not found, "\n".join(found)


def test_the_changelog_has_the_version():
    """CHANGELOG.md has a section for the package's version, below the unreleased one."""
    import ddpm_lite

    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0] == "Unreleased" and ddpm_lite.__version__ in headings[1:], (
        headings
    )


def test_the_version_is_written_once():
    """pyproject.toml reads the version from ddpm_lite.__version__; the installed metadata
    agrees with it."""
    import importlib.metadata
    import tomllib

    import ddpm_lite

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "ddpm_lite.__version__"}
    assert importlib.metadata.version("ddpm_lite") == ddpm_lite.__version__


def test_the_python_floor_is_the_one_the_readme_states():
    """requires-python, the README and scripts/setup.sh name the same oldest Python."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floor = re.fullmatch(r">=(3\.\d+)", project["requires-python"]).group(1)
    for name in ("README.md", "scripts/setup.sh"):
        stated = re.findall(r"Python (3\.\d+) or newer", (ROOT / name).read_text())
        assert stated == [floor], (name, stated, floor)
