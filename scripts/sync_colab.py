"""Write the Colab badges and setup cells from the repository's one address.

    python scripts/sync_colab.py          # update notebooks/ and README.md
    python scripts/sync_colab.py --check  # only report what is out of date

The address is ``[project.urls] Repository`` in pyproject.toml. Every lesson
starts with two cells written from it: a Markdown cell with its "Open in
Colab" badge, and the setup cell that installs course_utils and fetches the
data on Colab (and does nothing elsewhere). README.md gets a table of
badges between its ``colab-badges`` markers. Run
``scripts/make_student_notebooks.py`` afterwards: the student versions copy
these cells.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import colab  # noqa: E402  (the repository's own package)

START, END = "<!-- colab-badges:start -->", "<!-- colab-badges:end -->"


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def sync_notebook(path: Path, write: bool) -> bool:
    """Make the first two cells the badge and the setup cell; True if changed."""
    notebook = nbformat.read(path, as_version=4)
    badge = colab.badge_cell_source(f"notebooks/{path.name}")
    setup = colab.setup_cell_source()
    cells = notebook.cells
    changed = False
    if cells[0].cell_type == "markdown" and cells[0].source.startswith(
        colab.BADGE_MARK
    ):
        changed |= cells[0].source != badge
        cells[0].source = badge
    else:
        cells.insert(0, new_markdown_cell(badge))
        changed = True
    if cells[1].cell_type == "code" and cells[1].source.startswith(colab.SETUP_MARK):
        changed |= cells[1].source != setup
        cells[1].source = setup
    else:
        cells.insert(1, new_code_cell(setup))
        changed = True
    if changed and write:
        nbformat.write(notebook, path)
    return changed


def readme_table() -> str:
    rows = [
        "| lesson | with solutions and outputs | student version (exercises blank) |",
        "|---|---|---|",
    ]
    for path in lessons():
        rows.append(
            f"| `{path.stem}` | {colab.badge_markdown(f'notebooks/{path.name}')} "
            f"| {colab.badge_markdown(f'student/{path.name}')} |"
        )
    return "\n".join([START, *rows, END])


def sync_readme(write: bool) -> bool:
    path = ROOT / "README.md"
    text = path.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md needs the markers {START} and {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + readme_table() + tail
    if new != text and write:
        path.write_text(new)
    return new != text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: all")
    arguments = parser.parse_args()
    chosen = [path.resolve() for path in arguments.notebooks] or lessons()
    stale = [p.name for p in chosen if sync_notebook(p, not arguments.check)]
    if sync_readme(not arguments.check):
        stale.append("README.md")
    if arguments.check and stale:
        raise SystemExit(
            f"out of date with {colab.repository_url()}: {', '.join(stale)}; "
            "run python scripts/sync_colab.py"
        )
    print("updated: " + ", ".join(stale) if stale else "all in sync")


if __name__ == "__main__":
    main()
