"""A real JupyterLab server and Debian's Chromium, for tests/test_browser.py."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

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
