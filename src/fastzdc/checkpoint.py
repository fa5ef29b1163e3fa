"""The checkpoint directory: safetensors weights + JSON, never pickle.

Layout::

    CKPT/weights.safetensors   network weights for inference (the EMA weights)
    CKPT/config.json           {"format": "fastzdc-checkpoint", "format_version", "kind", "detector",
                                "hparams", "sampler", "scaler": {mean, scale}, "data": {path, sha256,
                                synthetic, ...}, "code_version", "metrics", "train": {...}}

A training run keeps ``best/`` and ``last/``; ``last/`` also holds the exact training state
(``train_state.safetensors``: raw weights and optimiser moments; ``train_state.json``: step, epoch,
history) for ``--resume``. Directories are written under a temporary name and swapped in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from ._atomic import atomic_dir
from .errors import FastZDCError

FORMAT = "fastzdc-checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
STATE = "train_state.safetensors"
STATE_JSON = "train_state.json"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks (hex digest)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    path: str | Path,
    weights: dict[str, torch.Tensor],
    config: dict[str, Any],
    train_state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (a crash leaves the previous one intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp / WEIGHTS))
        cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "code_version": __version__, **config}
        (tmp / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
        if train_state is not None:
            tensors, meta = train_state
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / STATE))
            (tmp / STATE_JSON).write_text(json.dumps(meta, indent=2) + "\n")
    return path


def resolve(path: str | Path) -> Path:
    """A checkpoint directory from a run directory (``best/`` preferred) or the directory itself."""
    path = Path(path)
    if path.is_file() and path.name in (WEIGHTS, CONFIG):
        path = path.parent
    if not path.exists():
        raise FastZDCError("checkpoint not found", path)
    if not (path / CONFIG).exists():
        for sub in ("best", "last"):
            if (path / sub / CONFIG).exists():
                return path / sub
        raise FastZDCError(f"not a fastzdc checkpoint (no {CONFIG})", path)
    return path


def load_config(path: str | Path) -> dict[str, Any]:
    path = resolve(path)
    try:
        cfg = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise FastZDCError(f"corrupt {CONFIG} ({err})", path) from None
    if cfg.get("format") != FORMAT:
        raise FastZDCError(f"{CONFIG} is not a fastzdc checkpoint config", path)
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        raise FastZDCError(f"checkpoint format {cfg.get('format_version')} is newer than this fastzdc ({FORMAT_VERSION})", path)
    for key in ("kind", "detector", "hparams", "scaler"):
        if key not in cfg:
            raise FastZDCError(f"{CONFIG} lacks {key!r}", path)
    return cfg


def load_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.exists():
        raise FastZDCError("missing file", file)
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise FastZDCError(f"corrupt safetensors file ({err})", file) from None


def load_weights_into(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Strict load with a one-line error naming the mismatch."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise FastZDCError(f"weights do not match the model (missing {missing[:3]}, unexpected {extra[:3]})", where)
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise FastZDCError(f"weight {k} has shape {tuple(v.shape)}, model expects {tuple(own[k].shape)}", where)
    module.load_state_dict(tensors, strict=True)
