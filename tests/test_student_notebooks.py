"""The exercises: solution notebooks are the source, student versions are made.

notebooks/ holds each lesson with its solutions; scripts/make_student_notebooks.py
makes student/ from it with nbgrader. These tests regenerate the student
versions, check they equal the committed ones and hide every solution line,
and run each student version top to bottom: the only cells that may fail
are the exercise checks, each saying the exercise is not written yet. (The
solution notebooks themselves run under nbval, checks included.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _solution_lines(notebook) -> list[str]:
    """Every non-blank line between the solution markers, stripped."""
    lines = []
    for cell in notebook["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if line.strip() == BEGIN:
                inside = True
            elif line.strip() == END:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_student_notebooks.py")]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_every_lesson_has_two_exercises_with_locked_checks():
    assert len(LESSONS) == 6
    for path in LESSONS:
        cells = json.loads(path.read_text())["cells"]
        solutions = [c for c in cells if _nbgrader(c).get("solution")]
        checks = [c for c in cells if _nbgrader(c).get("grade")]
        assert len(solutions) >= 2, f"{path.name}: fewer than two exercises"
        assert len(checks) == len(solutions), path.name
        for cell in solutions:
            source = "".join(cell["source"])
            assert BEGIN in source and END in source, path.name
            following = cells[cells.index(cell) + 1]
            assert _nbgrader(following).get("grade"), (
                f"{path.name}: {_nbgrader(cell)['grade_id']} has no check under it"
            )
            assert _nbgrader(following)["grade_id"] == (
                _nbgrader(cell)["grade_id"] + "_check"
            )
        for cell in checks:
            assert _nbgrader(cell)["locked"] and not _nbgrader(cell)["solution"]


def test_committed_student_versions_are_up_to_date(generated):
    for path in LESSONS:
        committed = ROOT / "student" / path.name
        fix = "run python scripts/make_student_notebooks.py"
        assert committed.exists(), f"student/{path.name} is missing: {fix}"
        assert committed.read_text() == (generated / path.name).read_text(), (
            f"student/{path.name} is out of date: {fix}"
        )


def test_student_versions_hide_every_solution(generated):
    for path in LESSONS:
        solution = _solution_lines(json.loads(path.read_text()))
        assert solution, path.name
        student = json.loads((generated / path.name).read_text())
        text = "\n".join("".join(c["source"]) for c in student["cells"])
        assert BEGIN not in text and END not in text
        for line in solution:
            assert line not in text, f"{path.name}: solution line shown: {line!r}"
        for cell in student["cells"]:
            assert cell.get("outputs", []) == [], f"{path.name}: outputs kept"
            if _nbgrader(cell).get("solution"):
                assert "NotImplementedError" in "".join(cell["source"])


def test_generation_leaves_the_lessons_untouched(tmp_path):
    def snapshot() -> dict[str, bytes]:
        folder = ROOT / "notebooks"
        return {
            str(p.relative_to(folder)): p.read_bytes()
            for p in folder.rglob("*")
            if p.is_file() and "wandb" not in p.parts
        }

    before = snapshot()
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_student_notebooks.py")]
        + ["--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert snapshot() == before


@pytest.mark.parametrize("lesson", [p.name for p in LESSONS])
def test_student_version_fails_only_in_its_checks(lesson, generated, tmp_path):
    """Run the untouched student version: only the check cells may raise."""
    notebook = nbformat.read(generated / lesson, as_version=4)
    environment = {"COURSE_FAST": "1", "WANDB_MODE": "offline", "TQDM_DISABLE": "1"}
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        NotebookClient(
            notebook,
            timeout=1800,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    failed, checks = [], []
    for index, cell in enumerate(notebook.cells):
        if _nbgrader(cell).get("grade"):
            checks.append(index)
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                failed.append(index)
                message = f"{output['ename']}: {output['evalue']}"
                assert index in checks, f"{lesson} cell {index} failed: {message}"
                assert output["ename"] == "ExerciseFailed", message
                assert re.search(r"not written yet", output["evalue"]), message
    assert failed == checks, f"{lesson}: checks {checks} but failures {failed}"
