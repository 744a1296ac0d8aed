"""Generate the student versions of the lessons with nbgrader.

    python scripts/make_student_notebooks.py            # notebooks/ -> student/
    python scripts/make_student_notebooks.py --out DIR  # somewhere else

The lessons in notebooks/ are the source: they hold the solutions between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` in cells marked as nbgrader
solution cells, and a locked check cell under each. ``nbgrader
generate_assignment`` copies every lesson with the solutions replaced by a
``raise NotImplementedError`` line, the outputs cleared and the check cells
locked. The Colab badge at the top of each copy is then pointed at the copy
itself. Nothing in notebooks/ is changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import colab  # noqa: E402  (the repository's own package)

ASSIGNMENT = "lessons"
STUB = (
    "# YOUR CODE HERE\n"
    'raise NotImplementedError("write your code here, then run the check below")'
)
HEADER = (
    "**Student version.** The exercises are left for you. Run the notebook from "
    "the top; where a cell says `# YOUR CODE HERE`, replace the `raise "
    "NotImplementedError` line with your code, run that cell, then run the "
    "check cell under it. A check that fails says why, with a hint. The same "
    "lesson with the solutions and all outputs is "
    "[notebooks/{name}](../notebooks/{name}) in the repository."
)


def generate(source: Path, out: Path) -> list[Path]:
    """Write the student version of every notebook in ``source`` to ``out``."""
    lessons = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not lessons:
        raise SystemExit(f"no lessons (NN_name.ipynb) in {source}")
    with tempfile.TemporaryDirectory() as work:
        course = Path(work)
        (course / "source" / ASSIGNMENT).mkdir(parents=True)
        for lesson in lessons:
            shutil.copy(lesson, course / "source" / ASSIGNMENT / lesson.name)
        (course / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"c.CourseDirectory.root = {str(course)!r}\n"
            f"c.ClearSolutions.code_stub = {{'python': {STUB!r}}}\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT]
            + ["--force", "--no-db", "--log-level=WARN"],
            cwd=course,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SystemExit(f"nbgrader failed:\n{result.stdout}\n{result.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for lesson in lessons:
            generated = course / "release" / ASSIGNMENT / lesson.name
            notebook = json.loads(generated.read_text())
            _student_header(notebook, lesson.name)
            # The lesson's saved widget views (progress bars, quizzes) belong to
            # its outputs, which nbgrader cleared; their state would only bloat
            # the file.
            notebook["metadata"].pop("widgets", None)
            target = out / lesson.name
            nbformat.write(nbformat.from_dict(notebook), target)
            written.append(target)
    return written


def _student_header(notebook: dict, name: str) -> None:
    """Point the Colab badge at the student copy and say what this copy is."""
    first = notebook["cells"][0]
    badge = colab.badge_cell_source(f"student/{name}")
    text = "".join(first["source"])
    if not text.startswith(colab.BADGE_MARK):
        raise SystemExit(f"{name}: the first cell is not the Colab badge cell")
    first["source"] = badge + "\n\n" + HEADER.format(name=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--out", type=Path, default=ROOT / "student")
    arguments = parser.parse_args()
    for path in generate(arguments.source, arguments.out):
        print(f"wrote {path.relative_to(path.parent.parent)}")


if __name__ == "__main__":
    main()
