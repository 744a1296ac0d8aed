"""Shared fixtures: the real EuroSAT set from COURSE_DATA_DIR, and damaged copies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from course_utils import data

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def eurosat() -> data.EuroSAT:
    """All 27,000 real images. Fails (never skips) when the data is not there."""
    try:
        return data.load_eurosat(download=False, progress=False)
    except data.DataError as error:
        pytest.fail(f"The tests need EuroSAT. {error}")


@pytest.fixture(scope="session")
def splits(eurosat) -> data.Splits:
    return data.eurosat_splits(dataset=eurosat, fast=False)


@pytest.fixture(scope="session")
def image_dir() -> Path:
    return data.find_eurosat(download=False)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty decode cache for this test only."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def linked_copy(tmp_path, image_dir, isolated_cache):
    """Build ``<tmp>/root/eurosat/2750`` from links to the real images.

    Call it with the name of a class to copy as a real folder of per-file links
    (so single files can be removed or replaced); other classes are one link
    each. Returns (root, image folder).
    """

    def build(editable_class: str | None = None) -> tuple[Path, Path]:
        target = tmp_path / "root" / "eurosat" / "2750"
        target.mkdir(parents=True)
        for name in data.CLASSES:
            if name == editable_class:
                (target / name).mkdir()
                for image in (image_dir / name).iterdir():
                    (target / name / image.name).symlink_to(image)
            else:
                (target / name).symlink_to(image_dir / name, target_is_directory=True)
        return tmp_path / "root", target

    return build


def replace_with_copy(link: Path) -> Path:
    """Turn a link into a private copy that a test may damage."""
    source = link.resolve()
    link.unlink()
    shutil.copyfile(source, link)
    os.chmod(link, 0o644)
    return link


# --- the browser tests (tests/test_browser*.py); each module defines `lab` ------


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Headless Debian Chromium with a fresh profile. Fails when it is missing."""
    from .browser_support import system_chromium

    with system_chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def problems() -> list[str]:
    """The console errors and page errors of this test's browser tab."""
    return []


@pytest.fixture
def page(chromium, lab, problems):
    """A new tab of the module's JupyterLab `lab`, reporting into ``problems``."""
    from .browser_support import watched_tab

    with watched_tab(chromium, lab, problems) as tab:
        yield tab
