"""A real JupyterLab server and Debian's Chromium, for the browser tests.

tests/test_browser.py runs the lessons in notebooks/, and
tests/test_browser_exercises.py does the exercises of student/; both build
their fixtures from the helpers here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_MISSING = (
    f"The browser test needs Debian's Chromium at {CHROMIUM}, which is missing. "
    "Install it as root with `apt-get update && apt-get install -y chromium` "
    "(.ci/run does this on CI). Do not run `playwright install`: the test uses "
    "the system browser."
)
# Headless, and nothing that phones home: the test machines have no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

KERNEL_NAME = "Python 3 (ipykernel)"
OPEN_TIMEOUT_MS = 120_000  # server start-up, first page load, kernel start

# JupyterLab settings that keep it off the internet: no news, no update check.
OFFLINE_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLab:
    """``python -m jupyter lab`` serving ``root`` on 127.0.0.1, with a token.

    Everything Jupyter keeps (config, runtime files, settings, workspaces)
    lives under ``home``, so the user's own setup neither leaks in nor changes.
    The server's output goes to ``home / "server.log"``; ``log()`` returns it.
    """

    def __init__(self, root: Path, home: Path, env: dict[str, str]) -> None:
        self.root, self.home = root, home
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        settings = home / "user-settings"
        for name, values in OFFLINE_LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {
            **env,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "IPYTHONDIR": str(home / "ipython"),
        }
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.allow_root=True",  # CI runs as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def url(self, path: str) -> str:
        """The address of ``path`` (starting with /) with the token attached."""
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{separator}token={self.token}"

    def api(self, method: str, path: str):
        """Call the server's REST API; return the decoded JSON body, or None."""
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        """Block until the server answers /api/status; fail if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {self.process.returncode}:\n"
                    + self.log()
                )
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)  # polling the port: there is no event to wait on
        raise TimeoutError(f"JupyterLab did not answer in {timeout} s:\n{self.log()}")

    def shutdown_kernels(self) -> None:
        """Stop every running kernel, so the next notebook has the CPUs alone."""
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def stop(self) -> None:
        """Shut the server down through its API, killing it if it hangs."""
        if self.process.poll() is None:
            self.api("POST", "/api/shutdown")
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_environment() -> dict[str, str]:
    """This process's environment in fast mode, with W&B offline.

    COURSE_DATA_DIR and COURSE_CACHE_DIR pass through; MPLBACKEND does not,
    so plots show inline as they do for a student.
    """
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update(COURSE_FAST="1", WANDB_MODE="offline")
    return env


# --- what the fixtures of both browser tests are made of ------------------------------


@contextlib.contextmanager
def serve_copies(
    folder: Path, names: Iterable[str], tmp_path_factory
) -> Iterator[JupyterLab]:
    """A JupyterLab server over copies of ``folder``'s notebooks ``names``.

    JupyterLab autosaves what it opens, so it never sees the committed files.
    """
    root = tmp_path_factory.mktemp("lab-root")
    for name in names:
        shutil.copyfile(folder / name, root / name)
    server = JupyterLab(root, tmp_path_factory.mktemp("lab-home"), server_environment())
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def system_chromium(profile: Path) -> Iterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile. Fails when it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@contextlib.contextmanager
def watched_tab(
    context: BrowserContext, lab: JupyterLab, problems: list[str]
) -> Iterator[Page]:
    """A new browser tab that reports its errors into ``problems``.

    Afterwards the tab is closed and every kernel stopped, so the next notebook
    has the CPUs to itself.
    """
    tab = context.new_page()
    tab.on("console", lambda message: console_error(message, problems))
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield tab
    tab.close()
    lab.shutdown_kernels()


def console_error(message, problems: list[str]) -> None:
    """Record a console error, except an external image the sandbox cannot resolve.

    Lessons show the "Open in Colab" badge from colab.research.google.com; the
    test machines have no DNS, and no browser setting silences a failed image
    load short of disabling all images (which the explorers need). Only that
    error, for a host other than the local server, is let pass.
    """
    url = message.location.get("url", "")
    offline = message.text.startswith(
        "Failed to load resource: net::ERR_NAME_NOT_RESOLVED"
    ) and not url.startswith("http://127.0.0.1:")
    if message.type == "error" and not offline:
        problems.append(f"console error: {message.text} at {message.location}")


@contextlib.contextmanager
def evidence_on_failure(
    lab: JupyterLab, page: Page, problems: list[str], screenshot: Path
):
    """On any failure inside, save a screenshot and print the server's log.

    Pytest shows printed output only for failing tests; the error is re-raised.
    """
    start = len(lab.log())
    try:
        yield
    except BaseException:
        page.screenshot(path=screenshot)
        print(f"Screenshot: {screenshot}")
        print("Browser errors:", "\n".join(problems) or "none")
        print(f"JupyterLab server log during this test:\n{lab.log()[start:]}")
        raise


# --- steps -------------------------------------------------------------------------


def open_notebook(page: Page, lab: JupyterLab, name: str, code_cells: int) -> None:
    """Open ``name`` in a workspace of its own; its kernel must start unasked."""
    workspace = Path(name).stem
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{name}?reset"))
    kernel = page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")
    dialog = page.locator(".jp-Dialog")
    expect(kernel.filter(has_text=KERNEL_NAME).or_(dialog)).to_be_visible(
        timeout=OPEN_TIMEOUT_MS
    )
    assert not dialog.is_visible(), (
        f"JupyterLab asked a question on opening {name} (the notebook's "
        f"kernelspec should make that unnecessary): {dialog.inner_text()!r}"
    )
    expect(page.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=OPEN_TIMEOUT_MS
    )
    expect(page.locator(".jp-Notebook .jp-CodeCell")).to_have_count(
        code_cells, timeout=OPEN_TIMEOUT_MS
    )


def menu(page: Page, title: str, item: str) -> None:
    """Click ``item`` in the main menu bar's ``title`` menu, as a student would."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel").get_by_text(
        title, exact=True
    ).click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()
