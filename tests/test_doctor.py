"""`python -m course_utils doctor`: real runs as a teacher would start them."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from course_utils import doctor, tracking

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAKE_KEY = "0123456789abcdef" * 2 + "01234567"  # 40 hex characters, like a real key
CHECK_NAMES = (
    ["python"]
    + list(doctor.REQUIRED_PACKAGES)
    + list(doctor.TEST_PACKAGES)
    + ["device", "data", "W&B", "shipped model", "training step"]
)


def _doctor(data_dir, **environment) -> subprocess.CompletedProcess:
    """Run the doctor in a fresh interpreter with a W&B-free environment."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("WANDB_") and name not in {"COURSE_DEVICE", "NETRC"}
    }
    env.update({"COURSE_DATA_DIR": str(data_dir), "WANDB_MODE": "disabled"})
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-m", "course_utils", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # a hang fails the test instead of stalling the suite
    )


def _statuses(output: str) -> dict[str, str]:
    """{check name: OK/WARN/FAIL} from the report's check lines."""
    statuses = {}
    for line in output.splitlines():
        status = line[:5].strip()
        if status in (doctor.OK, doctor.WARN, doctor.FAIL):
            statuses[line[6:20].strip()] = status
    return statuses


def test_ready_with_the_real_data(image_dir):
    result = _doctor(image_dir.parent.parent)

    assert result.returncode == 0, result.stdout + result.stderr
    statuses = _statuses(result.stdout)
    assert list(statuses) == CHECK_NAMES
    assert doctor.FAIL not in statuses.values()
    assert statuses["data"] == doctor.OK
    assert statuses["shipped model"] == doctor.OK
    assert statuses["W&B"] == doctor.WARN  # disabled: works, but records nothing
    assert "27,000 images in 10 classes" in result.stdout
    assert "one batch of 20 real images" in result.stdout
    assert re.search(r"^READY: none of the \d+ checks failed", result.stdout, re.M)
    assert "NOT READY" not in result.stdout


def test_not_ready_without_data(tmp_path):
    result = _doctor(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    statuses = _statuses(result.stdout)
    assert list(statuses) == CHECK_NAMES
    assert statuses["data"] == doctor.FAIL
    assert statuses["training step"] != doctor.FAIL  # random images stand in
    assert "random images (EuroSAT missing)" in result.stdout
    verdict = result.stdout.split("NOT READY:", 1)[1]
    fix = verdict.split("  - data:", 1)[1]
    assert "COURSE_DATA_DIR" in fix
    assert str(tmp_path / "eurosat" / "2750") in fix
    assert not re.search(r"^READY", result.stdout, re.M)


def test_the_api_key_is_never_shown(tmp_path):
    with socket.socket() as closed:  # a port nothing listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    result = _doctor(
        tmp_path, WANDB_MODE="", WANDB_API_KEY=FAKE_KEY, WANDB_BASE_URL=url
    )

    output = result.stdout + result.stderr
    assert FAKE_KEY not in output
    assert not re.search(r"[0-9a-fA-F]{40}", output)
    assert _statuses(result.stdout)["W&B"] == doctor.WARN
    assert "offline (the W&B service at" in result.stdout


def test_no_command_prints_help():
    result = subprocess.run(
        [sys.executable, "-m", "course_utils"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "doctor" in result.stderr


# ------------------------------------------------------------- single checks
def test_minimum_versions_match_pyproject():
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project["optional-dependencies"]
    listed = project["dependencies"] + extras["lab"] + extras["test"]
    declared = {r.name: str(r.specifier) for r in map(Requirement, listed)}
    for name, minimum in {**doctor.REQUIRED_PACKAGES, **doctor.TEST_PACKAGES}.items():
        assert declared[name] == f">={minimum}", name


def test_missing_and_old_packages():
    missing = doctor.check_package("no-such-package-for-the-course", "1.0")
    assert missing.status == doctor.FAIL
    assert "not installed" in missing.detail
    assert "pip install" in missing.fix

    optional = doctor.check_package("no-such-package-for-the-course", "1.0", False)
    assert optional.status == doctor.WARN
    assert "only to run the tests" in optional.detail

    old = doctor.check_package("pytest", "9999.0")
    assert old.status == doctor.FAIL
    assert "older than the minimum 9999.0" in old.detail


@pytest.mark.parametrize(
    "version, expected",
    [("2.5.1+cu121", (2, 5, 1)), ("0.17.0rc1", (0, 17, 0)), ("8", (8,))],
)
def test_version_tuple(version, expected):
    assert doctor._version_tuple(version) == expected


def test_a_stuck_wandb_probe_is_not_waited_for(monkeypatch):
    monkeypatch.setattr(tracking, "choose_mode", lambda: time.sleep(30))

    start = time.perf_counter()
    check = doctor.check_wandb(wait=0.5)

    assert time.perf_counter() - start < 5
    assert check.status == doctor.WARN
    assert "WANDB_MODE=offline" in check.fix


def test_a_bad_wandb_mode_fails(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    check = doctor.check_wandb()
    assert check.status == doctor.FAIL
    assert "WANDB_MODE" in check.fix


def test_an_unavailable_course_device_fails(monkeypatch):
    absent = "mps" if torch.cuda.is_available() else "cuda"  # no machine has both
    monkeypatch.setenv("COURSE_DEVICE", absent)

    check = doctor.check_device()

    assert check.status == doctor.FAIL
    assert "COURSE_DEVICE" in check.fix


def test_redaction_hides_keys(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "short-secret")
    text = doctor._redact(f"key {FAKE_KEY} and short-secret")
    assert FAKE_KEY not in text
    assert "short-secret" not in text


def test_incomplete_data_fails_with_the_package_message(linked_copy, monkeypatch):
    root, image_dir = linked_copy()
    (image_dir / "Pasture").unlink()  # one class folder gone
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))

    check, dataset = doctor.check_data()

    assert check.status == doctor.FAIL
    assert dataset is None
    assert "incomplete" in check.detail
    assert "Pasture" in check.fix
    assert "COURSE_DATA_DIR" in check.fix
