"""Training configuration: a dataclass, read from TOML, overridable from the command line."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FastZDCError


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data file.

    ``model`` holds the kind's network hyper-parameters, ``sampler`` its sampling defaults (saved in
    the checkpoint); both override the kind's own defaults.
    """

    kind: str = "fm"
    detector: str = "auto"
    """``zn``, ``zp`` or ``auto`` (from the data file)"""
    model: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 256
    """the global batch of one optimiser step, whatever the number of processes"""
    batch_parts: int = 0
    """the global batch is cut into this many equal parts, each with its own rows and noise, spread over the
    processes of a torchrun run (fastzdc.training.distributed); 0 = the number of processes"""
    lr: float = 2e-3
    """peak learning rate"""
    weight_decay: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.99
    schedule: str = "onecycle"
    """``onecycle`` (cosine warm-up then cosine decay), ``cosine`` (decay only) or ``constant``"""
    warmup: float = 0.05
    """fraction of all steps spent warming up (onecycle)"""
    critic_lr: float = 0.0
    """peak learning rate of a critic (the VAE's discriminator), same schedule; 0 = ``lr``"""
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    seed: int = 0
    val_rows: int = 2000
    """validation W is computed on this many rows of the validation split each epoch"""
    max_train_rows: int = 0
    """0 = all training rows"""
    device: str = "auto"
    precision: str = "auto"
    """``auto``: bfloat16 autocast on CUDA, float32 on CPU"""
    threads: int = 0
    """torch CPU threads; 0 = torch's default"""
    init: str = ""
    """fine-tuning: start from the weights of this checkpoint (same kind, detector and network) and keep
    its condition scaler; "" = fresh weights and a scaler fitted on the training rows"""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | Path | None = None) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise FastZDCError(f"unknown config keys: {', '.join(sorted(unknown))}", source)
        types = {f.name: type(f.default) if f.default is not dataclasses.MISSING else dict for f in dataclasses.fields(cls)}
        for key, value in d.items():
            want = types[key]
            ok = (
                isinstance(value, dict) if want is dict
                else isinstance(value, (int, float)) and not isinstance(value, bool) if want is float
                else isinstance(value, int) and not isinstance(value, bool) if want is int
                else isinstance(value, want)
            )
            if not ok:
                raise FastZDCError(f"config key {key!r} must be {want.__name__}, got {value!r}", source)
        cfg = cls(**d)
        cfg.validate(source)
        return cfg

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as err:
            raise FastZDCError(f"cannot read config ({err.strerror})", path) from None
        except tomllib.TOMLDecodeError as err:
            raise FastZDCError(f"invalid TOML ({err})", path) from None
        return cls.from_dict(data, path)

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """Apply ``key=value`` overrides; ``model.widths=[8,16,32]`` sets a nested key."""
        d = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            if "." in key:
                top, sub = key.split(".", 1)
                if top not in ("model", "sampler"):
                    raise FastZDCError(f"unknown config key {key!r}")
                d[top] = {**d[top], sub: value}
            else:
                d[key] = value
        return TrainConfig.from_dict(d)

    def validate(self, source: str | Path | None = None) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.critic_lr >= 0, "critic_lr must be >= 0"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"),
            (self.schedule in ("onecycle", "cosine", "constant"), "schedule must be onecycle, cosine or constant"),
            (self.precision in ("auto", "float32", "bfloat16"), "precision must be auto, float32 or bfloat16"),
            (self.detector in ("zn", "zp", "auto"), "detector must be zn, zp or auto"),
            (self.val_rows >= 10, "val_rows must be >= 10"),
            (self.epochs <= 100000, "epochs must be <= 100000"),
            (self.batch_size <= 1 << 20, "batch_size must be <= 1048576"),
            (not math.isnan(self.lr), "lr must be a number"),
            (math.isfinite(self.critic_lr), "critic_lr must be finite"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)"),
            (0 <= self.warmup < 1, "warmup must be in [0, 1)"),
            (math.isfinite(self.grad_clip) and self.grad_clip >= 0, "grad_clip must be >= 0"),
            (0 <= self.seed <= 2**63 - 1, "seed must be in [0, 2**63 - 1]"),
            (0 <= self.batch_parts <= 4096, "batch_parts must be in [0, 4096] (0 = the number of processes)"),
            (self.max_train_rows >= 0, "max_train_rows must be >= 0 (0 = all rows)"),
            (0 <= self.threads <= 1024, "threads must be in [0, 1024] (0 = torch's default)"),
            (self.val_rows <= 10**7, "val_rows must be <= 10000000"),
        ]
        for ok, msg in checks:
            if not ok:
                raise FastZDCError(f"config key {msg}", source)


def parse_set(items: list[str], flag: str = "--set") -> dict[str, Any]:
    """``["lr=1e-3", "model.widths=[8,16,32]"]`` -> dict, values parsed as JSON where possible."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise FastZDCError(f"{flag} expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out
