"""What a student sees: each lesson run in a real JupyterLab, in a real browser.

A JupyterLab server serves copies of the notebooks (JupyterLab autosaves, so
the committed ones are never touched); Debian's Chromium, driven by
Playwright, opens each lesson, runs all cells from the Run menu and waits for
them. Then every widget output must have rendered, each quiz must answer a
wrong and a right choice as its JSON file says, and each explorer's picture
must change when a slider is moved with the keyboard or a dropdown option is
chosen. The browser's console must stay free of errors throughout.
Screenshots land in the pytest temporary folder, under ``screenshots*/``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from course_utils import widgets

from .browser_support import (
    OPEN_TIMEOUT_MS,
    evidence_on_failure,
    menu,
    open_notebook,
    serve_copies,
)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
RUN_TIMEOUT_MS = 1_500_000  # Run All, fast mode; 05 needs ~3 min on 2 free cores
WIDGET_TIMEOUT_MS = 60_000  # one explorer redraw (the saliency maps take longest)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
QUIZ_CALL = re.compile(r"""widgets\.quiz\(["'](\w+)["']\)""")


@dataclass(frozen=True)
class Explorer:
    """How to find an explorer on the page and which controls to move."""

    marker: str  # the description of a control only this explorer has
    slider: str  # description of the slider moved with the arrow key
    dropdown: str  # description of the dropdown whose last option is chosen


EXPLORERS = {
    "ConvExplorer": Explorer(marker="dilation", slider="stride", dropdown="kernel"),
    "OptimizerExplorer": Explorer(
        marker="momentum", slider="steps", dropdown="surface"
    ),
    "SaliencyExplorer": Explorer(
        marker="patch size", slider="patch size", dropdown="image"
    ),
}


# --- fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over copies of the lessons; stopped after the module."""
    with serve_copies(NOTEBOOKS, LESSONS, tmp_path_factory) as server:
        yield server


# --- the test ----------------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_in_jupyterlab(lesson, lab, page, problems, screenshots):
    """Run all cells of ``lesson`` in JupyterLab; check its widgets as a student."""
    copy = lab.root / lesson
    sources = _code_sources(copy)
    failed = screenshots / f"{copy.stem}-failed.png"
    with evidence_on_failure(lab, page, problems, failed):
        open_notebook(page, lab, lesson, code_cells=len(sources))
        seconds = _run_all_cells(page)
        cells = _saved_code_cells(page, copy)
        _check_all_executed(page, cells)
        _check_widgets_rendered(page, cells)
        for lesson_name in QUIZ_CALL.findall("\n".join(sources)):
            _check_quiz(page, widgets.load_quiz(lesson_name))
        for name, explorer in EXPLORERS.items():
            if any(f"{name}(" in source for source in sources):
                _check_explorer(page, name, explorer)
        page.screenshot(path=screenshots / f"{copy.stem}.png")
        assert not problems, "the browser reported errors:\n" + "\n".join(problems)
    print(f"{lesson}: Run All took {seconds:.0f} s")


# --- steps ---------------------------------------------------------------------------


def _code_sources(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _run_all_cells(page: Page) -> float:
    """Run > Run All Cells, then wait until no cell is queued or running."""
    start = time.monotonic()
    menu(page, "Run", "Run All Cells")
    busy = page.locator(".jp-InputPrompt", has_text="[*]")
    expect(busy.first).to_be_visible()
    expect(busy).to_have_count(0, timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=OPEN_TIMEOUT_MS
    )
    return time.monotonic() - start


def _saved_code_cells(page: Page, copy: Path) -> list[dict]:
    """Save the notebook (File > Save Notebook); return its code cells from disk.

    Error outputs look like stderr in the page; the saved file tells them apart.
    """
    menu(page, "File", "Save Notebook")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0)
    cells = json.loads(copy.read_text(encoding="utf-8"))["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"]


def _check_all_executed(page: Page, cells: list[dict]) -> None:
    """No cell raised, and every code cell got an execution number."""
    for number, cell in enumerate(cells, start=1):
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                traceback = ANSI.sub("", "\n".join(output["traceback"]))
                pytest.fail(
                    f"code cell {number} ({_first_line(cell)}) raised "
                    f"{output['ename']}: {output['evalue']}\n{traceback}",
                    pytrace=False,
                )
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
    texts = [text.strip() for text in prompts.all_text_contents()]
    unrun = [
        n
        for n, text in enumerate(texts, start=1)
        if not re.fullmatch(r"\[\d+\]:", text)
    ]
    assert not unrun, f"code cells {unrun} did not run (prompts: {texts})"


def _check_widgets_rendered(page: Page, cells: list[dict]) -> None:
    """Each widget output of the run shows a widget view, or was closed.

    A closed widget (a finished progress bar with leave=False) hides its
    output; one that failed shows "Error displaying widget" or stays at
    "Loading widget...".
    """
    expected = sum(
        WIDGET_VIEW in output.get("data", {})
        for cell in cells
        for output in cell["outputs"]
    )
    assert expected, "the lesson displays no widget (a quiz or explorer at least)"
    notebook = page.locator(".jp-NotebookPanel .jp-Notebook")
    loading = notebook.locator(".jp-OutputArea-output", has_text="Loading widget...")
    expect(loading, "a widget never finished loading").to_have_count(0)
    numbers = notebook.locator(".jp-CodeCell").evaluate_all(
        """cells => cells.flatMap((cell, index) =>
            cell.querySelector(".jp-OutputArea").textContent
                .includes("Error displaying widget") ? [index + 1] : [])"""
    )
    failed = [f"{n} ({_first_line(cells[n - 1])})" for n in numbers]
    assert not failed, f"code cells {failed} show 'Error displaying widget'"
    shown = notebook.locator(".jp-OutputArea-output:not(.lm-mod-hidden)")
    closed = notebook.locator(".jp-OutputArea-output.lm-mod-hidden").count()
    views = shown.locator(":scope > .jupyter-widgets")
    expect(views, f"{expected} widget outputs, {closed} closed").to_have_count(
        expected - closed
    )
    assert views.count(), "every widget the lesson displays was closed"


def _first_line(cell: dict) -> str:
    """The first line of a code cell that is not a comment, to name it."""
    lines = "".join(cell["source"]).splitlines()
    code = [line for line in lines if line.strip() and not line.startswith("#")]
    return repr(code[0] if code else "")


def _check_quiz(page: Page, quiz: dict) -> None:
    """Click Check with no choice, then a wrong and the right answer, per question."""
    title = f"Quiz: {quiz['title']}"
    box = page.locator(".widget-vbox:has(> .widget-html h3)").filter(has_text=title)
    expect(box, f"no quiz titled {title!r} on the page").to_have_count(1)
    questions = box.locator(":scope > .widget-vbox")
    score = box.locator(":scope > .widget-html").last
    total = len(quiz["questions"])
    expect(questions).to_have_count(total)
    expect(score).to_have_text(f"Right so far: 0 of {total}")
    for number, question in enumerate(quiz["questions"], start=1):
        where = f"{title}, question {number}"
        item = questions.nth(number - 1)
        item.scroll_into_view_if_needed()
        expect(item.locator(".widget-html-content").first).to_have_text(
            f"{number}. {question['prompt']}"
        )
        options = item.locator(".widget-radio-box label")
        expect(options).to_have_text(question["options"])
        check = item.get_by_role("button", name="Check")
        feedback = item.locator(":scope > .widget-html").last

        check.click()
        expect(feedback, where).to_have_text(
            "Choose an answer first, then click Check."
        )

        right = question["answer"]
        wrong = (right + 1) % len(question["options"])
        options.nth(wrong).click()
        expect(feedback, f"{where}: choosing must clear the feedback").to_have_text("")
        check.click()
        hint = question["feedback"][wrong] or ""
        expect(feedback, f"{where}, wrong answer").to_contain_text(
            f"Not quite. {hint}".strip()
        )
        expect(feedback, f"{where}, wrong answer").to_contain_text(
            f"The answer is {question['options'][right]}: {question['explanation']}"
        )
        expect(score).to_have_text(f"Right so far: {number - 1} of {total}")

        options.nth(right).click()
        expect(feedback, f"{where}: choosing must clear the feedback").to_have_text("")
        check.click()
        expect(feedback, f"{where}, right answer").to_have_text(
            f"\u2713 Correct. {question['explanation']}"
        )
        expect(score).to_have_text(f"Right so far: {number} of {total}")


def _check_explorer(page: Page, name: str, explorer: Explorer) -> None:
    """Drive every view of explorer ``name`` on the page; there must be one."""
    views = page.locator(".widget-vbox:has(> .widget-image)").filter(
        has=_label(page, explorer.marker)
    )
    expect(views.first, f"no {name} on the page").to_be_visible()
    for index in range(views.count()):
        _drive_explorer(page, views.nth(index), name, explorer)


def _drive_explorer(page: Page, view: Locator, name: str, explorer: Explorer):
    """Move the slider one step with the keyboard, then pick another option."""
    view.scroll_into_view_if_needed()
    slider = _control(page, view, explorer.slider)
    handle, readout = slider.locator(".noUi-handle"), slider.locator(".widget-readout")
    before = readout.inner_text()
    at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute(
        "aria-valuemax"
    )
    key = "ArrowLeft" if at_max else "ArrowRight"
    _expect_redraw(
        view, f"{name}: {explorer.slider} slider moved", lambda: handle.press(key)
    )
    expect(readout).not_to_have_text(before)

    select = _control(page, view, explorer.dropdown).locator("select")
    values = select.locator("option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    choice = values[-1] if select.input_value() != values[-1] else values[0]
    _expect_redraw(
        view,
        f"{name}: {explorer.dropdown} dropdown changed",
        lambda: select.select_option(value=choice),
    )
    expect(select).to_have_value(choice)


def _label(page: Page, description: str, selector: str = "label.widget-label"):
    """A widget's description label reading exactly ``description``."""
    return page.locator(selector, has_text=re.compile(rf"^{re.escape(description)}$"))


def _control(page: Page, view: Locator, description: str) -> Locator:
    """The slider or dropdown in ``view`` labelled ``description``."""
    label = _label(page, description, ":scope > label.widget-label")
    return view.locator(".jupyter-widgets:has(> label.widget-label)").filter(has=label)


def _expect_redraw(view: Locator, what: str, action) -> None:
    """Do ``action``; the explorer's text and its picture's pixels must change."""
    summary = view.locator(":scope > .widget-html")
    picture = view.locator(":scope > .widget-image")
    text, source = summary.inner_text(), picture.get_attribute("src")
    digest = _image_digest(picture)
    action()
    expect(summary, f"{what}: the text did not change").not_to_have_text(
        text, timeout=WIDGET_TIMEOUT_MS
    )
    expect(picture, f"{what}: no new picture").not_to_have_attribute(
        "src", source, timeout=WIDGET_TIMEOUT_MS
    )
    assert _image_digest(picture) != digest, f"{what}: the picture did not change"


def _image_digest(picture: Locator) -> str:
    """SHA-256 of the PNG an <img> shows (fetched from its blob URL), once loaded."""
    return picture.evaluate(
        """async (img) => {
            await img.decode();
            const bytes = await (await fetch(img.src)).arrayBuffer();
            const hash = await crypto.subtle.digest("SHA-256", bytes);
            return Array.from(new Uint8Array(hash), b => b.toString(16)).join("");
        }"""
    )
