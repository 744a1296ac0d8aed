"""Execute notebooks top to bottom, in place, the way they are committed.

    python scripts/run_notebooks.py notebooks/05_classification.ipynb
    python scripts/run_notebooks.py            # every notebook in notebooks/

Each runs in one clean kernel from the notebooks/ folder with COURSE_FAST=1
(unless --full) and WANDB_MODE=offline, so the stored outputs are those of the
fast run that CI checks with nbval. Afterwards the outputs are checked for
machine paths and anything that looks like an API key; the run fails if one
is found. Prints each notebook's wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = r"(/work/|/root/|/home/[a-z]|/Users/[A-Za-z]|/tmp/|\b[A-Z]:\\[A-Za-z])"
FORBIDDEN = [
    (re.compile(PATHS), "a machine path"),
    (re.compile(r"\b[0-9a-f]{40}\b"), "a 40-hex string (an API key?)"),
]


def leaks(notebook) -> list[str]:
    """Describe every forbidden string in the notebook's outputs."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")]
            data = output.get("data", {})
            texts += [v for k, v in data.items() if k.startswith("text/")]
            texts += ["\n".join(output.get("traceback", []))]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else str(text)
                for pattern, what in FORBIDDEN:
                    match = pattern.search(text)
                    if match:
                        context = text[max(0, match.start() - 40) : match.end() + 40]
                        found.append(f"cell {index}: {what}: ...{context!r}")
    return found


def run(path: Path, fast: bool) -> float:
    notebook = nbformat.read(path, as_version=4)
    os.environ["COURSE_FAST"] = "1" if fast else ""
    os.environ.setdefault("WANDB_MODE", "offline")
    # Saved progress bars would show their first frame ("0%") on GitHub; the
    # committed outputs go without them. Live runs show them as usual.
    os.environ["TQDM_DISABLE"] = "1"
    started = time.perf_counter()
    client = NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    seconds = time.perf_counter() - started
    problems = leaks(notebook)
    if problems:
        listing = "\n".join(problems)
        raise SystemExit(f"{path.name}: not saved, outputs leak:\n{listing}")
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps would churn every commit
    nbformat.write(notebook, path)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument(
        "--full", action="store_true", help="the full lesson, not COURSE_FAST"
    )
    args = parser.parse_args()
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        seconds = run(path, fast=not args.full)
        print(f"{path.name}: executed in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
