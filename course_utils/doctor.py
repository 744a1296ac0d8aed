"""Is this machine ready for the course? ``python -m course_utils doctor``.

A teacher runs it on a lab machine before class. Every check prints one line,
``OK``, ``WARN`` or ``FAIL``, then what was checked and what was found; the
report ends with ``READY`` or ``NOT READY`` and, for every failure, what to
fix. Warnings (such as W&B running offline) never make a machine unready: the
course works without them.

Nothing here waits on the network except the W&B probe of
``tracking.choose_mode``, which is bounded, and runs in a thread that the
doctor stops waiting for after a fixed time.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

OK, WARN, FAIL = "OK", "WARN", "FAIL"

MINIMUM_PYTHON = (3, 10)
# Minimum versions, as in pyproject.toml and its "lab" extra (tests/test_doctor.py
# keeps them in sync).
REQUIRED_PACKAGES = {
    "torch": "2.1",
    "torchvision": "0.16",
    "wandb": "0.17",
    "ipywidgets": "7.6",
    "jupyterlab": "4.0",
    "matplotlib": "3.7",
    "tqdm": "4.66",
    "torchinfo": "1.8",
}
# Needed only by teachers and contributors: the tests, the browser test, and
# making the student versions of the lessons.
TEST_PACKAGES = {
    "nbval": "0.11",
    "captum": "0.7",
    "nbgrader": "0.9",
    "playwright": "1.40",
}
TRAINING_BATCH = 20  # images in the timed training step: two of every class
SLOW_STEP_SECONDS = 10.0  # a training step slower than this gets a warning
WANDB_WAIT_SECONDS = 15.0  # stop waiting for the W&B probe after this long


@dataclass
class Check:
    """One line of the report: status (OK, WARN, FAIL), what, detail, and a fix."""

    status: str
    what: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<5} {self.what:<14} {self.detail}"


# ------------------------------------------------------------------ the checks
def _version_tuple(version: str) -> tuple[int, ...]:
    """The leading release numbers of a version: "2.5.1+cu121" -> (2, 5, 1)."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def check_python() -> Check:
    """The Python version, against the course's minimum."""
    version = platform.python_version()
    if sys.version_info[:2] < MINIMUM_PYTHON:
        wanted = ".".join(map(str, MINIMUM_PYTHON))
        return Check(
            FAIL,
            "python",
            f"{version} is older than {wanted}",
            f"Install Python {wanted} or newer and recreate the environment "
            "(conda env create -f environment.yml, or pip install -e .).",
        )
    return Check(OK, "python", f"{version} ({platform.system()} {platform.machine()})")


def check_package(name: str, minimum: str, required: bool = True) -> Check:
    """One package's installed version (read from its metadata, not imported)."""
    install = (
        "pip install -e . (or conda env update -f environment.yml)"
        if required
        else "pip install -e '.[test]'"
    )
    missing_status = FAIL if required else WARN
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        role = "" if required else " (needed only to run the tests)"
        return Check(
            missing_status,
            name,
            f"not installed{role}",
            f"Install {name}>={minimum}: {install}.",
        )
    if _version_tuple(version) < _version_tuple(minimum):
        return Check(
            missing_status,
            name,
            f"{version} is older than the minimum {minimum}",
            f"Upgrade {name} to {minimum} or newer: {install}.",
        )
    return Check(OK, name, version)


def check_device() -> Check:
    """Which device the notebooks will train on, and how many CPU threads torch uses."""
    import torch

    from . import runtime

    try:
        device = runtime.pick_device()
    except ValueError as error:
        return Check(
            FAIL,
            "device",
            str(error),
            "Unset COURSE_DEVICE (or set it to cpu) so the notebooks pick a device.",
        )
    threads = torch.get_num_threads()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        detail = f"cuda ({name}); {threads} torch CPU threads"
    elif device.type == "mps":
        detail = f"mps (Apple GPU); {threads} torch CPU threads"
    else:
        detail = f"cpu, {threads} torch threads (no GPU: fine, only slower)"
    return Check(OK, "device", detail)


def check_data() -> tuple[Check, object | None]:
    """EuroSAT is where the notebooks look, complete and decodable.

    Returns the check and the loaded dataset (None when it failed), so the
    training step can reuse the images.
    """
    from . import data

    def failed(error: data.DataError) -> tuple[Check, None]:
        fix = str(error)
        if "COURSE_DATA_DIR" not in fix:
            fix += (
                "\nOr set COURSE_DATA_DIR to a folder that holds a complete "
                "eurosat/2750/."
            )
        return Check(FAIL, "data", _first_sentence(error), fix), None

    try:
        image_dir = data.find_eurosat(download=False)
    except data.DataError as error:
        return failed(error)

    start = time.perf_counter()
    try:
        dataset = data.load_eurosat(download=False, progress=False)
    except data.DataError as error:
        return failed(error)
    seconds = time.perf_counter() - start
    detail = (
        f"{len(dataset):,} images in {len(dataset.classes)} classes, all decode "
        f"({seconds:.1f} s), in {image_dir}"
    )
    return Check(OK, "data", detail), dataset


def check_wandb(wait: float = WANDB_WAIT_SECONDS) -> Check:
    """Whether W&B runs will go online, offline or nowhere. Never shows the key."""
    from . import tracking

    outcome: dict = {}

    def probe() -> None:
        try:
            outcome["choice"] = tracking.choose_mode()
        except Exception as error:  # reported below, never raised
            outcome["error"] = error

    # choose_mode's HTTP probe is bounded, but a name lookup on a broken
    # network can take longer than its timeout: do not wait for it forever.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(wait)
    if thread.is_alive():
        return Check(
            WARN,
            "W&B",
            f"the W&B service check did not finish within {wait:g} s",
            "Notebooks will wait about that long before logging offline. Fix the "
            "network (name lookup), or set WANDB_MODE=offline on this machine.",
        )
    if "error" in outcome:
        return Check(
            FAIL,
            "W&B",
            str(outcome["error"]),
            "Set WANDB_MODE to online, offline or disabled, or unset it.",
        )

    mode, reason = outcome["choice"]
    if mode == "online":
        return Check(OK, "W&B", f"online ({reason})")
    if mode == "offline":
        online = (
            "let this machine reach the W&B service (firewall, proxy)"
            if tracking.has_api_key()
            else "run `wandb login` with each student's key"
        )
        return Check(
            WARN,
            "W&B",
            f"offline ({reason})",
            "The course works offline: runs are saved in wandb/ and can be "
            f"uploaded later with `wandb sync`. To track online, {online}.",
        )
    return Check(
        WARN,
        "W&B",
        f"disabled ({reason})",
        "Runs are not recorded; unset WANDB_MODE to log offline or online.",
    )


def check_shipped_model() -> Check:
    """The trained CNN shipped with the package loads and predicts."""
    import torch

    from . import models

    try:
        model, metadata = models.load_course_cnn()
        with torch.no_grad():
            logits = model(torch.zeros(1, 3, 64, 64))
    except Exception as error:
        return Check(
            FAIL,
            "shipped model",
            f"{type(error).__name__}: {_first_sentence(error)}",
            f"{error}",
        )
    if tuple(logits.shape) != (1, 10):
        return Check(
            FAIL,
            "shipped model",
            f"gives {tuple(logits.shape)} class scores for one image, not (1, 10)",
            "Reinstall course_utils from the repository.",
        )
    accuracy = metadata.get("test_accuracy")
    shown = f"test accuracy {accuracy:.1%}" if accuracy is not None else "no accuracy"
    parameters = models.count_parameters(model)
    return Check(OK, "shipped model", f"CourseCNN, {parameters:,} parameters, {shown}")


def check_training_step(dataset=None) -> Check:
    """One timed training step of a small CourseCNN on a batch of real images.

    dataset: the loaded EuroSAT (from ``check_data``); without it, random
    images stand in, which still checks that torch can train here.
    """
    import torch

    from . import data, models, runtime

    runtime.seed_everything(0)
    try:
        device = runtime.pick_device()
    except ValueError:
        device = torch.device("cpu")  # the device check reports the problem
    if dataset is not None:
        per_class = TRAINING_BATCH // len(dataset.classes)
        chosen = torch.cat(
            [
                torch.nonzero(dataset.labels == label)[:per_class, 0]
                for label in range(len(dataset.classes))
            ]
        )
        images, labels = dataset.images[chosen], dataset.labels[chosen]
        source = f"{len(chosen)} real images"
    else:
        images = torch.randint(0, 256, (TRAINING_BATCH, 3, 64, 64), dtype=torch.uint8)
        labels = torch.arange(TRAINING_BATCH) % 10
        source = f"{TRAINING_BATCH} random images (EuroSAT missing)"

    try:
        mean, std = data.channel_stats(images)
        inputs = data.normalize(images, mean, std).to(device)
        targets = labels.to(device)
        model = models.CourseCNN(width=8).to(device).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        before = [p.detach().clone() for p in model.parameters()]

        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    except Exception as error:
        return Check(
            FAIL,
            "training step",
            f"{type(error).__name__}: {_first_sentence(error)}",
            "PyTorch cannot train on this machine; reinstall torch "
            f"(the error was: {error}).",
        )

    changed = any(
        not torch.equal(old, new.detach())
        for old, new in zip(before, model.parameters(), strict=True)
    )
    if not torch.isfinite(loss) or not changed:
        return Check(
            FAIL,
            "training step",
            f"loss {loss.item():.3f}, weights changed: {changed}",
            "PyTorch computes wrong gradients here; reinstall torch.",
        )
    detail = (
        f"CourseCNN(width=8), one batch of {source} on {device.type}: "
        f"loss {loss.item():.2f}, {seconds:.2f} s"
    )
    if seconds > SLOW_STEP_SECONDS:
        return Check(
            WARN,
            "training step",
            detail,
            "Training is very slow here (the machine is busy or underpowered); "
            "run the notebooks with COURSE_FAST=1.",
        )
    return Check(OK, "training step", detail)


def _first_sentence(error: BaseException) -> str:
    """The start of an error message, for the one-line report."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    sentence = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= 160 else sentence[:157] + "..."


# ------------------------------------------------------------------ the report
def run_checks() -> Iterator[Check]:
    """Every check, in the order a teacher reads them; each as soon as it is done."""
    yield check_python()
    for name, minimum in REQUIRED_PACKAGES.items():
        yield check_package(name, minimum)
    for name, minimum in TEST_PACKAGES.items():
        yield check_package(name, minimum, required=False)
    yield _guarded("device", check_device)
    data_check, dataset = _guarded_pair("data", check_data)
    yield data_check
    yield _guarded("W&B", check_wandb)
    yield _guarded("shipped model", check_shipped_model)
    yield _guarded("training step", lambda: check_training_step(dataset))


def _crashed(what: str, error: Exception) -> Check:
    return Check(
        FAIL,
        what,
        f"{type(error).__name__}: {_first_sentence(error)}",
        f"This check crashed ({error}); fix the failures above first.",
    )


def _guarded(what: str, check: Callable[[], Check]) -> Check:
    """Run a check; an unexpected error (such as torch missing) becomes a FAIL."""
    try:
        return check()
    except Exception as error:
        return _crashed(what, error)


def _guarded_pair(what: str, check: Callable[[], tuple]) -> tuple[Check, object]:
    """``_guarded`` for a check that also returns a value (None when it crashed)."""
    try:
        return check()
    except Exception as error:
        return _crashed(what, error), None


def _redact(text: str) -> str:
    """Hide anything that looks like a W&B API key (40 hex digits)."""
    key = os.environ.get("WANDB_API_KEY", "").strip()
    if len(key) >= 8:  # a real key is 40+ characters; never mangle short words
        text = text.replace(key, "<key hidden>")
    return re.sub(r"\b[0-9a-fA-F]{40}\b", "<key hidden>", text)


def _show(text: str) -> None:
    print(_redact(text), flush=True)


def main() -> int:
    """Run every check, print the report; return 0 when READY, 1 when NOT READY."""
    _show("Checking this machine for the CNN course...")
    checks = []
    for check in run_checks():
        checks.append(check)
        _show(check.line())

    failures = [check for check in checks if check.status == FAIL]
    warnings = [check for check in checks if check.status == WARN]
    _show("")
    if failures:
        _show(f"NOT READY: {len(failures)} check(s) failed. To fix:")
        for check in failures:
            _show(f"  - {check.what}: " + check.fix.replace("\n", "\n    "))
    else:
        _show(
            f"READY: none of the {len(checks)} checks failed "
            f"({len(warnings)} warning(s))."
        )
    if warnings:
        _show("Warnings (the course still works):")
        for check in warnings:
            _show(f"  - {check.what}: " + check.fix.replace("\n", "\n    "))
    return 1 if failures else 0
