"""Which torch device runs a network: ``auto`` means CUDA when present, else the CPU."""

from __future__ import annotations

from typing import Any

import torch

from .errors import FastZDCError


def pick_device(device: Any = None) -> torch.device:
    """``None``/``"auto"`` -> ``cuda`` if available, else ``cpu``; anything else as given.

    A device torch does not know, or CUDA asked for on a machine without it, is a one-line
    :class:`~fastzdc.errors.FastZDCError`.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise FastZDCError(f"unknown device {device!r}; choose cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FastZDCError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    return dev
