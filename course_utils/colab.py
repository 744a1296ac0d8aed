"""Google Colab: the badge and the setup cell at the top of every notebook.

The repository's public address lives in one place, ``[project.urls]
Repository`` in ``pyproject.toml``; the badges in README.md and the first two
cells of every notebook are written from it by ``python
scripts/sync_colab.py`` (and a test fails when they disagree with it).

On Colab the setup cell installs this package from that address, which
leaves the torch, torchvision and ipywidgets that Colab ships alone (pip
installs only what is missing or does not satisfy ``pyproject.toml``), then
calls ``setup()`` to fetch the data. Anywhere else the cell does nothing.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: read the installed metadata instead
    tomllib = None

BADGE_MARK = "[![Open In Colab]"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BRANCH = "main"
SETUP_MARK = "# Setup for Google Colab"


def repository_url() -> str:
    """The repository's address, from pyproject.toml (or the installed metadata)."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.exists() and tomllib is not None:
        urls = tomllib.loads(pyproject.read_text())["project"]["urls"]
        return urls["Repository"]
    for entry in metadata.metadata("course-utils").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise LookupError("no Repository address in course-utils' metadata")


def github_path(url: str | None = None) -> str:
    """``owner/name`` of a GitHub address such as https://github.com/owner/name."""
    url = url or repository_url()
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(\.git)?/?", url)
    if match is None:
        raise ValueError(
            f"expected a GitHub address like https://github.com/owner/name, got "
            f"{url!r}; fix [project.urls] Repository in pyproject.toml"
        )
    return match.group(1)


def colab_url(path: str) -> str:
    """The address that opens ``path`` (e.g. notebooks/01_recap.ipynb) in Colab."""
    return (
        f"https://colab.research.google.com/github/{github_path()}/blob/{BRANCH}/{path}"
    )


def badge_markdown(path: str) -> str:
    """The "Open in Colab" badge for ``path``, as Markdown."""
    return f"{BADGE_MARK}({BADGE_IMAGE})]({colab_url(path)})"


def badge_cell_source(path: str) -> str:
    """The first cell of a notebook: its Colab badge."""
    return badge_markdown(path)


def setup_cell_source() -> str:
    """The second cell of every notebook: install and fetch on Colab, else nothing."""
    return (
        f"{SETUP_MARK}: installs the course helpers and fetches the data\n"
        "# (a few minutes, once per Colab session). Anywhere else it does nothing.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    REPOSITORY = "git+{repository_url()}"\n'
        "    subprocess.run(\n"
        '        [sys.executable, "-m", "pip", "install", "--quiet", REPOSITORY],\n'
        "        check=True,\n"
        "    )\n"
        "    from course_utils import colab\n"
        "\n"
        "    colab.setup()"
    )


def on_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules


def setup(root: str | None = None) -> Path:
    """Fetch EuroSAT if it is missing and say what this runtime has.

    Downloads into ``data/`` under the working folder (``/content/data`` on
    Colab) unless ``root`` or ``COURSE_DATA_DIR`` says otherwise. Returns the
    image folder. Raises ``data.DataError`` with the fix if that fails.
    """
    import torch

    from . import data, runtime

    folder = data.find_eurosat(root, download=True)
    device = runtime.pick_device()
    print(
        f"course_utils ready: torch {torch.__version__}, device {device.type}, "
        f"EuroSAT in {folder.parent.parent}"
    )
    return folder
