"""Weights & Biases runs that never block a notebook.

A run goes online when the student has logged in (``wandb login``) and the
service answers within a few seconds; otherwise it is written offline to
``wandb/`` and can be uploaded later with ``wandb sync``. ``WANDB_MODE``
(online, offline, disabled) always wins. No prompt ever waits for input, and
the API key is never printed.
"""

from __future__ import annotations

import io
import logging
import netrc
import os
import urllib.error
import urllib.request
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

PROJECT = "cnn-course-eurosat"
DEFAULT_BASE_URL = "https://api.wandb.ai"
MODES = ("online", "offline", "disabled")
PROBE_TIMEOUT = 5.0  # seconds to wait for the W&B service before going offline


def _base_url() -> str:
    return os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL).rstrip("/")


def has_api_key() -> bool:
    """True when a W&B API key is in ``WANDB_API_KEY`` or saved by ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(_base_url()).hostname or ""
    netrc_path = os.environ.get("NETRC") or os.path.join(
        os.path.expanduser("~"), ".netrc"
    )
    try:
        entry = netrc.netrc(netrc_path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def service_answers(timeout: float = PROBE_TIMEOUT) -> bool:
    """True when the W&B server answers an HTTP request within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(_base_url(), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if with an error status
    except (urllib.error.URLError, OSError, ValueError):
        return False


def choose_mode(timeout: float = PROBE_TIMEOUT) -> tuple[str, str]:
    """Pick the W&B mode and say why: (mode, reason).

    ``WANDB_MODE`` if set; else online when logged in and the service answers;
    else offline.
    """
    requested = os.environ.get("WANDB_MODE", "").strip().lower()
    if requested:
        aliases = {"dryrun": "offline", "run": "online"}
        mode = aliases.get(requested, requested)
        if mode not in MODES:
            raise ValueError(
                f"WANDB_MODE={requested!r} is not a W&B mode; use one of "
                f"{', '.join(MODES)} "
                "or unset it."
            )
        return mode, "WANDB_MODE is set"
    if not has_api_key():
        return "offline", "no W&B login found; run `wandb login` to track online"
    if not service_answers(timeout):
        return (
            "offline",
            f"the W&B service at {_base_url()} did not answer within {timeout:g} s",
        )
    return "online", "logged in and the W&B service answers"


def _settings(mode: str):
    import wandb

    return wandb.Settings(
        mode=mode,
        silent=True,  # no banners or local paths in notebook outputs
        console="off",  # leave the notebook's own output alone
        init_timeout=30,
        x_disable_stats=True,  # no system-metrics sampling thread on a 2-core laptop
        disable_git=True,
        save_code=False,
    )


def start_run(
    name: str | None = None,
    *,
    project: str = PROJECT,
    group: str | None = None,
    job_type: str | None = None,
    config: dict | None = None,
    tags: list[str] | None = None,
    dir: str | os.PathLike | None = None,
    mode: str | None = None,
    verbose: bool = True,
):
    """Start a W&B run that never blocks: online if possible, else offline.

    Any run still open is finished first, so runs never overlap. ``mode``
    overrides the automatic choice. With ``verbose`` one line tells the student
    where the run goes. Returns the ``wandb`` run (a no-op run when disabled).
    """
    import wandb

    finish_run()
    if mode is None:
        mode, reason = choose_mode()
    elif mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    else:
        reason = "chosen by the caller"

    arguments = dict(
        project=project,
        name=name,
        group=group,
        job_type=job_type,
        config=config or {},
        tags=tags,
        dir=str(dir) if dir is not None else None,
    )
    try:
        run = wandb.init(**arguments, settings=_settings(mode))
    except Exception as error:
        if mode != "online":
            raise
        logger.warning("W&B online start failed (%s); continuing offline.", error)
        mode, reason = "offline", "the online start failed"
        run = wandb.init(**arguments, settings=_settings("offline"))

    if verbose:
        where = {
            "online": "logging online",
            "offline": "logging offline to wandb/ (upload later with `wandb sync`)",
            "disabled": "tracking disabled",
        }[mode]
        print(f"W&B run '{name or 'unnamed'}': {where}; {reason}.")
    return run


def finish_run(run=None, summary: dict | None = None) -> None:
    """Finish ``run`` (or whichever run is open), after storing ``summary`` values."""
    import wandb

    run = run if run is not None else wandb.run
    if run is None:
        return
    try:
        for key, value in (summary or {}).items():
            run.summary[key] = value
        run.finish()
    except Exception as error:
        logger.warning(
            "Finishing the W&B run failed (%s); its local files are kept.", error
        )


def log_figure(run, key: str, figure) -> None:
    """Log a matplotlib figure as an image; never raises."""
    import wandb

    if run is None:
        return
    try:
        from PIL import Image

        from .plots import _figure_png

        # Rendered here: wandb's own figure conversion needs pyplot's global state.
        run.log({key: wandb.Image(Image.open(io.BytesIO(_figure_png(figure))))})
    except Exception as error:
        logger.warning(
            "Could not log %s to W&B (%s); it is shown inline only.", key, error
        )


def log_confusion_matrix(run, labels, predictions, classes) -> None:
    """Log W&B's interactive confusion matrix; never raises."""
    import wandb

    if run is None:
        return
    try:
        run.log(
            {
                "confusion_matrix": wandb.plot.confusion_matrix(
                    y_true=[int(y) for y in labels],
                    preds=[int(p) for p in predictions],
                    class_names=list(classes),
                )
            }
        )
    except Exception as error:
        logger.warning(
            "Could not log the confusion matrix (%s); it is shown inline only.", error
        )


def log_predictions(
    run, images, labels, probabilities, classes, limit: int = 32
) -> None:
    """Log a table of sample predictions; never raises.

    images: float 0-1 (N, 3, H, W) for display; labels (N,); probabilities (N, classes).
    """
    import wandb

    if run is None:
        return
    try:
        table = wandb.Table(columns=["image", "true", "predicted", "confidence"])
        for image, label, probs in list(
            zip(images, labels, probabilities, strict=True)
        )[:limit]:
            predicted = int(probs.argmax())
            table.add_data(
                wandb.Image((image.permute(1, 2, 0) * 255).round().byte().numpy()),
                classes[int(label)],
                classes[predicted],
                float(probs[predicted]),
            )
        run.log({"sample_predictions": table})
    except Exception as error:
        logger.warning("Could not log sample predictions (%s).", error)
