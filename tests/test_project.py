"""Repository promises: one test command, synced environments, clean notebooks."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    listed = project["dependencies"] + extras["lab"] + extras["test"]
    requirements = [Requirement(line) for line in listed]
    return {r.name: str(r.specifier) for r in requirements if r.marker is None}


def _conda_requirements() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip section installs the package itself
            assert entry["pip"] == ["--editable ."]
            continue
        name, specifier = re.match(r"([A-Za-z0-9_.-]+)(.*)", entry).groups()
        if name not in ("python", "pip"):
            found[CONDA_NAMES.get(name, name)] = specifier
    return found


def test_environment_yml_matches_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_torch_is_never_pinned_exactly():
    for name, specifier in _pyproject_requirements().items():
        if name in ("torch", "torchvision"):
            assert "==" not in specifier and "<" not in specifier, (name, specifier)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)


def _notebooks():
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_executed_clean_and_have_a_kernel():
    notebooks = _notebooks()
    assert notebooks, "no notebooks found"
    for path in notebooks:
        notebook = json.loads(path.read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3", path.name
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name} not executed"
        counts = [c["execution_count"] for c in code]
        assert counts == list(range(1, len(code) + 1)), (
            f"{path.name}: not one clean run"
        )
        errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors, f"{path.name} has error outputs"


def test_notebooks_leak_no_paths_or_keys():
    pattern = re.compile(r"/work/|/root/|/home/[a-z]|/Users/[A-Za-z]|/tmp/")
    key = re.compile(r"\b[0-9a-f]{40}\b")
    for path in _notebooks():
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            text = json.dumps(cell.get("outputs", []))
            assert not pattern.search(text), f"{path.name}: machine path in outputs"
            assert not key.search(text), f"{path.name}: key-like string in outputs"
