"""Seed, device and run-size helpers that every notebook calls first."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

logger = logging.getLogger(__name__)


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` asks for a quick run (1, true, yes, on)."""
    return os.environ.get("COURSE_FAST", "").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch so a notebook gives the same numbers each run."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA if present, then Apple MPS, then CPU; ``preferred`` overrides.

    ``preferred`` may also come from ``COURSE_DEVICE`` (e.g. ``cpu`` to force
    the CPU on a GPU machine).
    """
    preferred = preferred or os.environ.get("COURSE_DEVICE")
    if preferred:
        device = torch.device(preferred)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "CUDA was requested but no CUDA GPU is available; use 'cpu'."
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("MPS was requested but is not available here; use 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
