"""nbgrader: the settings every course uses, and the student edition as nbgrader releases it.

The student edition *is* what `nbgrader generate_assignment` writes from a lesson's source
version (build.py), so the stubs, checks and points a learner sees are the ones the grader
marks. `SETTINGS` is the one place nbgrader is configured: the student edition is released
with it here, and scripts/instructor.py writes it into a course's nbgrader_config.py.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from .answers import CODE_STUB

#: nbgrader's configuration, by class and trait. The per-cell timeout is the instructor's
#: to change (scripts/instructor.py grade --timeout).
SETTINGS = {
    "ClearSolutions": {"code_stub": {"python": CODE_STUB}},
    "OverwriteCells": {"add_missing_cells": True},
    "Execute": {"timeout": 600, "interrupt_on_timeout": True},
}


class ReleaseError(RuntimeError):
    """nbgrader could not release a source notebook."""


def config(root: Path, **extra: dict):
    """A traitlets Config for the course folder `root`: SETTINGS plus `extra`."""
    from traitlets.config import Config

    settings = {name: dict(traits) for name, traits in SETTINGS.items()}
    for name, traits in extra.items():
        settings.setdefault(name, {}).update(traits)
    settings.setdefault("CourseDirectory", {})["root"] = str(root)
    return Config(settings)


def config_file() -> str:
    """The text of a course's nbgrader_config.py (SETTINGS, written out)."""
    lines = [
        "# Written by scripts/instructor.py from scripts/_editions/release.py (SETTINGS).",
        "c = get_config()  # noqa: F821 (nbgrader defines it)",
    ]
    for name, traits in SETTINGS.items():
        for trait, value in traits.items():
            lines.append(f"c.{name}.{trait} = {value!r}")
    return "\n".join(lines) + "\n"


def release(source: dict, name: str) -> dict:
    """The notebook `nbgrader generate_assignment` releases from the source notebook
    `source` of lesson `name`, in a scratch course without a gradebook."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import SaveCells

    # nbgrader's own steps, less the one that records the cells in a gradebook
    steps = [
        step
        for step in GenerateAssignment.class_traits()["preprocessors"].default()
        if step is not SaveCells
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "source" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.ipynb").write_text(json.dumps(source), encoding="utf-8")
        settings = {"no_database": True, "preprocessors": steps}
        api = NbGraderAPI(config=config(root, GenerateAssignment=settings))
        api.log.setLevel(logging.ERROR)
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise ReleaseError(f"nbgrader could not release {name}:\n{result['log']}")
        path = root / "release" / name / f"{name}.ipynb"
        return json.loads(path.read_text(encoding="utf-8"))
