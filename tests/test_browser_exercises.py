"""A student doing the exercises: each student notebook in a real JupyterLab.

A JupyterLab server serves copies of student/ (JupyterLab autosaves; the
committed files must stay as they are). Debian's Chromium, driven by
Playwright, opens a notebook and runs, one cell at a time with Shift+Enter,
the Colab cell and the setup cell. Then, for every exercise, it runs the
exercise cell as given and its check cell, which must say "Not yet:" and
that the exercise is not written yet, with a hint and no traceback. It
replaces the exercise cell's text in the editor with the solution from the
matching cell (same nbgrader grade_id) of notebooks/, runs it, runs the
check again and expects "✓ Correct:". The saved copy must hold exactly the
typed solutions and no error, and the browser's console must stay clean.
Screenshots land in the pytest temporary folder, under ``screenshots*/``: one
per notebook with its checks passed, one per exercise with its first feedback.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from .browser_support import (
    evidence_on_failure,
    menu,
    open_notebook,
    serve_copies,
)

ROOT = Path(__file__).resolve().parent.parent
STUDENT, NOTEBOOKS = ROOT / "student", ROOT / "notebooks"
LESSONS = sorted(path.name for path in STUDENT.glob("[0-9][0-9]_*.ipynb"))
MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION"}
CHECK_CALL = re.compile(r"check\.\w+\((\w+)\)")
RUN_TIMEOUT_MS = 120_000  # one cell: the setup's imports, or a check's cases


@dataclass(frozen=True)
class Exercise:
    """One exercise: where its cells are in the student notebook, and its answer."""

    grade_id: str
    cell: int  # index of the exercise (solution) cell among all cells
    function: str  # the name the check cell passes to the check
    solution: str  # the solution cell of notebooks/, without the two markers


# --- fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over copies of student/; stopped after the module."""
    with serve_copies(STUDENT, LESSONS, tmp_path_factory) as server:
        yield server


# --- the test ----------------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSONS)
def test_exercises_in_jupyterlab(lesson, lab, page, problems, screenshots):
    """Do every exercise of student/``lesson`` in JupyterLab, as a student would."""
    start = time.monotonic()
    committed = (STUDENT / lesson).read_bytes()
    copy = lab.root / lesson
    student = _cells(copy)
    exercises = _exercises(student, _cells(NOTEBOOKS / lesson))
    assert len(exercises) >= 2, f"{lesson}: fewer than two exercises"
    code = [n for n, cell in enumerate(student) if cell["cell_type"] == "code"]
    cells = page.locator(".jp-Notebook .jp-Cell")
    failed = screenshots / f"{copy.stem}-failed.png"
    with evidence_on_failure(lab, page, problems, failed):
        open_notebook(page, lab, lesson, code_cells=len(code))
        expect(cells).to_have_count(len(student))
        runs = 0
        for number in code[:2]:  # the Colab cell, then the lesson's setup cell
            runs += 1
            _run_cell(page, cells.nth(number), runs)
        for exercise in exercises:
            runs = _do_exercise(page, cells, exercise, runs, screenshots)
        expect(page.get_by_text("Error displaying widget")).to_have_count(0)
        _check_saved_copy(page, copy, exercises)
        cells.nth(exercises[-1].cell + 1).scroll_into_view_if_needed()
        page.screenshot(path=screenshots / f"{copy.stem}.png")
        assert not problems, "the browser reported errors:\n" + "\n".join(problems)
    assert (STUDENT / lesson).read_bytes() == committed, f"student/{lesson} changed"
    print(f"{lesson}: {len(exercises)} exercises in {time.monotonic() - start:.0f} s")


# --- steps ---------------------------------------------------------------------------


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _exercises(student: list[dict], solved: list[dict]) -> list[Exercise]:
    """The student notebook's exercises, each with the solution of the same id."""
    solutions = {
        _nbgrader(cell)["grade_id"]: "".join(cell["source"])
        for cell in solved
        if _nbgrader(cell).get("solution")
    }
    exercises = []
    for number, cell in enumerate(student):
        grade_id = _nbgrader(cell).get("grade_id")
        if not _nbgrader(cell).get("solution"):
            continue
        check = student[number + 1]
        assert _nbgrader(check).get("grade_id") == f"{grade_id}_check", grade_id
        call = CHECK_CALL.search("".join(check["source"]))
        assert call, f"{grade_id}: no check.name(name) call under the exercise"
        lines = solutions[grade_id].splitlines()
        solution = "\n".join(line for line in lines if line.strip() not in MARKERS)
        exercises.append(Exercise(grade_id, number, call[1], solution))
    return exercises


def _run_cell(page: Page, cell: Locator, count: int) -> None:
    """Select ``cell`` by its prompt, press Shift+Enter, wait for run ``count``."""
    prompt = cell.locator(".jp-InputPrompt")
    prompt.click()
    page.keyboard.press("Shift+Enter")
    expect(prompt).to_have_text(f"[{count}]:", timeout=RUN_TIMEOUT_MS)


def _do_exercise(
    page: Page, cells: Locator, exercise: Exercise, runs: int, screenshots: Path
) -> int:
    """Run the exercise as given and its check, solve it, check again.

    The first check's feedback is saved as ``<grade_id>-not-yet.png``.
    Returns the number of cells the kernel has run so far.
    """
    cell, check = cells.nth(exercise.cell), cells.nth(exercise.cell + 1)
    output = check.locator(".jp-OutputArea-output")
    _run_cell(page, cell, runs + 1)
    _run_cell(page, check, runs + 2)
    expect(output, f"{exercise.grade_id}: the first check").to_have_text(
        re.compile(
            rf"^Not yet: `{exercise.function}` is not written yet\.\nHint: [^\n]+\n?$"
        )
    )
    check.screenshot(path=screenshots / f"{exercise.grade_id}-not-yet.png")
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(exercise.solution)
    _run_cell(page, cell, runs + 3)
    _run_cell(page, check, runs + 4)
    expect(output, f"{exercise.grade_id}: the check of the solution").to_have_text(
        re.compile(r"^\u2713 Correct: ")
    )
    return runs + 4


def _check_saved_copy(page: Page, copy: Path, exercises: list[Exercise]) -> None:
    """Save (File > Save Notebook): the copy must hold the solutions, no errors."""
    menu(page, "File", "Save Notebook")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0)
    cells = _cells(copy)
    for exercise in exercises:
        typed = "".join(cells[exercise.cell]["source"])
        assert typed == exercise.solution, f"{exercise.grade_id}: the editor changed it"
    errors = [
        f"{output['ename']}: {output['evalue']}"
        for cell in cells
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    ]
    assert not errors, f"cells still show errors: {errors}"
