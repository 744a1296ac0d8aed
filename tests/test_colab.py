"""Google Colab: badges and setup cells from one address, nothing Colab ships upgraded.

There is no Colab here, so these tests check what can be checked on this
machine: the badges and setup cells agree with the one address in
pyproject.toml, the setup cell does nothing outside Colab, ``colab.setup()``
finds real data, installing course_utils would upgrade none of the packages
Colab ships, and the widgets work with the ipywidgets 7 that Colab ships.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from course_utils import colab

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent

# What a Colab runtime shipped (pip list on a fresh CPU runtime, 2025). The
# course must install beside these, never over them: an upgraded ipywidgets
# or ipykernel breaks Colab's widget and kernel integration.
COLAB_SHIPS = {
    "torch": "2.6.0",
    "torchvision": "0.21.0",
    "ipywidgets": "7.7.1",
    "ipykernel": "6.17.1",
    "numpy": "1.26.4",
    "pillow": "11.1.0",
    "matplotlib": "3.10.0",
    "tqdm": "4.67.1",
}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_badges_and_setup_cells_are_written_from_the_one_address():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_colab.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    url = _project()["urls"]["Repository"]
    assert colab.repository_url() == url
    tracked = subprocess.run(
        ["git", "grep", "-l", colab.github_path(url)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    generated = {"README.md"} | {
        f"{folder}/{p.name}"
        for folder in ("notebooks", "student")
        for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    }
    assert set(tracked) - generated == {"pyproject.toml"}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        assert f"blob/main/notebooks/{path.name}" in "".join(cells[0]["source"])
        assert "".join(cells[1]["source"]) == colab.setup_cell_source()


def test_github_path_rejects_other_addresses():
    assert colab.github_path("https://github.com/owner/name.git") == "owner/name"
    for wrong in ("https://gitlab.com/owner/name", "github.com/owner/name", ""):
        try:
            colab.github_path(wrong or "not an address")
        except ValueError as error:
            assert "pyproject.toml" in str(error)
        else:
            raise AssertionError(f"accepted {wrong!r}")


def test_setup_cell_does_nothing_outside_colab():
    probe = colab.setup_cell_source() + (
        '\nprint("installed" if "course_utils.colab" in sys.modules else "inert")'
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "inert\n"


def test_setup_finds_the_data(capsys, image_dir):
    folder = colab.setup()
    assert folder == image_dir
    assert "course_utils ready" in capsys.readouterr().out


def test_installing_upgrades_nothing_colab_ships():
    for line in _project()["dependencies"]:
        requirement = Requirement(line)
        shipped = COLAB_SHIPS.get(requirement.name)
        if shipped is not None:
            assert requirement.specifier.contains(Version(shipped)), (
                f"{line} would upgrade Colab's {requirement.name} {shipped}"
            )
    names = {Requirement(line).name for line in _project()["dependencies"]}
    assert "ipykernel" not in names and "jupyterlab" not in names


def test_widgets_work_with_colabs_ipywidgets_7(tmp_path):
    """Install ipywidgets 7.7.1 beside the venv and run the widget tests with it."""
    target = tmp_path / "ipywidgets7"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        + ["--target", str(target), "ipywidgets==7.7.1"]
        + ["widgetsnbextension<4", "jupyterlab_widgets<2", "ipython_genutils"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, (
        "could not install ipywidgets 7.7.1 from the package registry:\n"
        + install.stderr
    )
    environment = {**os.environ, "PYTHONPATH": str(target)}
    version = subprocess.run(
        [sys.executable, "-c", "import ipywidgets; print(ipywidgets.__version__)"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == "7.7.1", version.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["-W", "ignore::DeprecationWarning"]
        + [str(ROOT / "tests" / "test_quiz.py")]
        + [str(ROOT / "tests" / "test_conv_lessons.py")]
        + [str(ROOT / "tests" / "test_recap.py")]
        + ["-k", "widget or quiz or explorer or Explorer"],
        env=environment,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout
