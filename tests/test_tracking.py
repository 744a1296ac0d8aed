"""W&B runs that never block: real offline runs and a real silent server."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import torch

from course_utils import data, models, tracking, training

FAKE_KEY = "0123456789abcdef" * 2 + "01234567"  # 40 characters, like a real key


@pytest.fixture
def clean_wandb_env(tmp_path, monkeypatch):
    """No key, no mode, a private home and run folder."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    (tmp_path / "home").mkdir()
    yield tmp_path
    tracking.finish_run()


@pytest.fixture
def silent_server():
    """A local server that accepts connections and never answers; counts them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                accepted.append(connection)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def _offline_runs(folder):
    return sorted((folder / "wandb").glob("offline-run-*"))


def test_no_login_goes_offline_at_once_without_prompt(clean_wandb_env, capsys):
    started = time.perf_counter()
    run = tracking.start_run("no-login", dir=clean_wandb_env, config={"lr": 0.1})
    run.log({"accuracy": 0.5})
    tracking.finish_run(run)
    assert time.perf_counter() - started < 30
    assert "no W&B login found" in capsys.readouterr().out
    (folder,) = _offline_runs(clean_wandb_env)
    assert list(folder.glob("run-*.wandb"))


def test_key_but_silent_service_falls_back_offline_and_training_goes_on(
    clean_wandb_env, silent_server, monkeypatch, capsys, eurosat
):
    address, accepted = silent_server
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", address)

    started = time.perf_counter()
    run = tracking.start_run("silent-service", dir=clean_wandb_env)
    assert time.perf_counter() - started < 30
    assert accepted, "the probe should have tried the service"
    output = capsys.readouterr().out
    assert "offline" in output and "did not answer" in output
    assert FAKE_KEY not in output

    fast = data.eurosat_splits(dataset=eurosat, fast=True)
    loader = data.make_loader(fast.val, 100)
    history = training.fit(
        models.CourseCNN(width=8),
        loader,
        loader,
        epochs=2,
        run=run,
        device="cpu",
        progress=False,
    )
    tracking.finish_run(run, summary={"final": history.last["val_accuracy"]})
    (folder,) = _offline_runs(clean_wandb_env)
    run_file = next(folder.glob("run-*.wandb")).read_bytes()
    for metric in ("train_loss", "val_accuracy"):
        assert metric.encode() in run_file
    assert FAKE_KEY.encode() not in run_file


def test_key_but_no_dns_goes_offline(clean_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", "https://api.wandb.invalid")
    mode, reason = tracking.choose_mode()
    assert mode == "offline" and "did not answer" in reason


def test_key_saved_by_wandb_login_is_found(clean_wandb_env, monkeypatch):
    netrc = clean_wandb_env / "home" / ".netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {FAKE_KEY}\n")
    netrc.chmod(0o600)
    assert tracking.has_api_key()


def test_disabled_mode_writes_nothing_and_contacts_nobody(
    clean_wandb_env, silent_server, monkeypatch
):
    address, accepted = silent_server
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", address)
    run = tracking.start_run("disabled", dir=clean_wandb_env)
    run.log({"accuracy": 1.0})
    tracking.finish_run(run)
    time.sleep(0.5)
    assert not (clean_wandb_env / "wandb").exists()
    assert accepted == []


def test_wandb_mode_offline_is_respected_even_with_a_key(
    clean_wandb_env, monkeypatch, silent_server
):
    address, accepted = silent_server
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", address)
    assert tracking.choose_mode() == ("offline", "WANDB_MODE is set")
    assert accepted == []


def test_unknown_wandb_mode_is_explained(clean_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(ValueError, match="online, offline, disabled"):
        tracking.choose_mode()


def test_a_new_run_finishes_the_previous_one(clean_wandb_env):
    first = tracking.start_run("first", dir=clean_wandb_env, group="g", verbose=False)
    second = tracking.start_run("second", dir=clean_wandb_env, group="g", verbose=False)
    assert first._is_finished and not second._is_finished
    tracking.finish_run()
    assert second._is_finished
    assert len(_offline_runs(clean_wandb_env)) == 2


def test_figures_tables_and_confusion_matrix_log_offline(clean_wandb_env):
    from course_utils import plots

    run = tracking.start_run("media", dir=clean_wandb_env, verbose=False)
    labels = torch.tensor([0, 1, 2, 1])
    probabilities = torch.softmax(torch.randn(4, 3), dim=1)
    tracking.log_figure(run, "bars", plots.compare_bars({"a": 0.5}, "t"))
    tracking.log_confusion_matrix(run, labels, probabilities.argmax(1), ["a", "b", "c"])
    tracking.log_predictions(
        run, torch.rand(4, 3, 8, 8), labels, probabilities, ["a", "b", "c"]
    )
    tracking.finish_run(run)
    media = list((_offline_runs(clean_wandb_env)[0] / "files" / "media").rglob("*"))
    assert any(p.suffix == ".png" for p in media)
    assert any(p.suffix == ".json" for p in media)
