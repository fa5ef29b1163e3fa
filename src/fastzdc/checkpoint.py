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
import math
import re
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
        cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "code_version": __version__, **config,
               "weights_sha256": file_sha256(tmp / WEIGHTS)}
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
    """A checkpoint's ``config.json``, checked against its schema (types and ranges, naming the key)."""
    path = resolve(path)
    try:
        cfg = json.loads((path / CONFIG).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise FastZDCError(f"corrupt {CONFIG} ({type(err).__name__}: {err})", path / CONFIG) from None
    check_config(cfg, path / CONFIG)
    return cfg


HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_config(cfg: Any, where: str | Path) -> None:
    """The schema of ``config.json``: raise a one-line :class:`FastZDCError` naming the first bad key."""
    if not isinstance(cfg, dict):
        raise FastZDCError(f"{CONFIG} must hold a JSON object, got {type(cfg).__name__}", where)
    if cfg.get("format") != FORMAT:
        raise FastZDCError(f"{CONFIG} is not a fastzdc checkpoint config", where)
    version = cfg.get("format_version")
    if not _is_int(version) or version < 1:
        raise FastZDCError(f"key 'format_version' must be a positive integer, got {version!r}", where)
    if version > FORMAT_VERSION:
        raise FastZDCError(f"checkpoint format {version} is newer than this fastzdc ({FORMAT_VERSION})", where)
    for key in ("kind", "detector", "hparams", "scaler"):
        if key not in cfg:
            raise FastZDCError(f"{CONFIG} lacks {key!r}", where)
    schema: dict[str, type | tuple[type, ...]] = {"kind": str, "detector": str, "hparams": dict, "scaler": dict,
                                                 "sampler": dict, "name": str, "metrics": dict, "data": dict}
    for key, want in schema.items():
        if key in cfg and not isinstance(cfg[key], want):
            raise FastZDCError(f"key {key!r} must be a {_type_name(want)}, got {_short(cfg[key])}", where)
    if cfg["detector"] not in ("zn", "zp") and (cfg["detector"], cfg["kind"]) != ("both", "gate"):
        raise FastZDCError(f"key 'detector' must be 'zn' or 'zp', got {_short(cfg['detector'])}", where)
    sha = cfg.get("weights_sha256")
    if sha is not None and (not isinstance(sha, str) or not HEX64.match(sha)):
        raise FastZDCError(f"key 'weights_sha256' must be 64 hex digits, got {_short(sha)}", where)


def check_values(defaults: dict[str, Any], values: dict[str, Any], where: str | Path | None, prefix: str = "") -> None:
    """Check option values against the types and ranges their defaults imply, naming the key.

    An option whose default is an integer must be an integer in [0, 2**20] (at least 1 where the default
    is, unless 0 switches the part off: :data:`ZERO_MEANS_OFF`); a float must be finite (and >= 0 where the default is); a bool a bool; a string a string; a list
    a list of numbers in the same ranges. Options with other defaults (None, tables) are not checked.
    """
    if not isinstance(values, dict):
        raise FastZDCError(f"{prefix.rstrip('.') or 'options'} must be a table of KEY = VALUE, got {_short(values)}", where)
    for key, default in defaults.items():
        if key not in values:
            continue
        value = values[key]
        problem = _value_problem(0 if key in ZERO_MEANS_OFF else default, value)
        if problem:
            raise FastZDCError(f"key '{prefix}{key}' must be {problem}, got {_short(value)}", where)


MAX_INT_OPTION = 1 << 20
ZERO_MEANS_OFF = frozenset({"mean_hidden"})
"""integer options whose positive default may also be 0 (the part is left out)"""


def _value_problem(default: Any, value: Any) -> str:
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "true or false"
    if _is_int(default):
        low = 1 if default >= 1 else 0
        ok = _is_int(value) and low <= value <= MAX_INT_OPTION
        return "" if ok else f"an integer in [{low}, {MAX_INT_OPTION}]"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and default >= 0 and value < 0:
            ok = False
        return "" if ok else ("a finite number" + (" >= 0" if default >= 0 else ""))
    if isinstance(default, str):
        return "" if isinstance(value, str) else "a string"
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) > 64:
            return "a list"
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                return "a list of numbers"
            if item < 0 or item > MAX_INT_OPTION:
                return f"a list of numbers in [0, {MAX_INT_OPTION}]"
        return ""
    return ""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type_name(t: type | tuple[type, ...]) -> str:
    return {dict: "JSON object", str: "string", list: "list"}.get(t, getattr(t, "__name__", str(t)))  # type: ignore[arg-type]


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def load_tensors(file: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; with ``sha256`` the file's hash must match it. Non-finite
    values (NaN, inf) are refused."""
    if not file.exists():
        raise FastZDCError("missing file", file)
    if sha256 is not None and file_sha256(file) != sha256:
        raise FastZDCError("weights do not match the SHA-256 recorded in config.json (corrupt or modified file)", file)
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise FastZDCError(f"corrupt safetensors file ({err})", file) from None
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise FastZDCError(f"tensor {name!r} holds NaN or inf values", file)
    return tensors


def load_checkpoint_weights(ckpt: Path, cfg: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The inference weights of a checkpoint, verified against ``weights_sha256`` in its config."""
    return load_tensors(ckpt / WEIGHTS, cfg.get("weights_sha256"))


def tensor_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes a safetensors file declares in its header (no tensor is read)."""
    from safetensors import safe_open

    if not file.exists():
        raise FastZDCError("missing file", file)
    try:
        with safe_open(str(file), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
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
