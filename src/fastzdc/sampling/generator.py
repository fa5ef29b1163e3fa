"""A trained network as a :class:`~fastzdc.generator.Generator`: raw particles in, photon counts out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.scaler import StandardScaler
from ..data.validate import validate_conditions
from ..detector import Detector, get_detector
from ..errors import FastZDCError
from ..models import ModelKind, get_kind
from ..nn.unet import n_params
from ..training.checkpoint import WEIGHTS, load_config, load_tensors, load_weights_into, resolve
from .precision import PRECISIONS, resolve_precision

if TYPE_CHECKING:
    from ..export.runtime import OnnxGenerator

MAX_COUNT = np.iinfo(np.uint16).max


def counts_from_log_images(x: torch.Tensor, dequantized: bool = False) -> np.ndarray:
    """``(B, 1, nx, ny)`` log1p images -> ``(B, nx, ny)`` uint16 counts: ``round(exp(max(x, 0)) - 1)``,
    or ``floor(...)`` for a model trained on dequantized counts ``n + U[0, 1)``."""
    counts = torch.expm1(x.float().clamp_min(0.0))
    counts = (counts.floor_() if dequantized else counts.round_()).clamp_(0, MAX_COUNT)
    return counts[:, 0].to(torch.int32).cpu().numpy().astype(np.uint16)


def pick_device(device: Any = None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class ModelGenerator:
    """Sampling front end of a trained model (any kind).

    Args:
        kind: the model kind (network builder + sampler).
        net: the network with its (EMA) weights.
        scaler: the condition scaler fitted on the training split.
        sampler: sampler options (e.g. ``steps``, ``method``); defaults from the kind.
        precision: ``"float32"``, ``"bfloat16"`` (autocast) or ``"auto"`` (bfloat16 where it is native
            and measured safe, else float32); see :mod:`fastzdc.sampling.precision`. The attribute
            holds the resolved value.
    """

    def __init__(
        self,
        kind: ModelKind,
        net: torch.nn.Module,
        scaler: StandardScaler,
        sampler: dict[str, Any] | None = None,
        name: str | None = None,
        precision: str = "float32",
        device: Any = None,
    ) -> None:
        self.kind = kind
        self.detector: Detector = kind.detector
        self.net = net.eval()
        self.scaler = scaler
        self.sampler = kind.sampler_options(sampler)
        self.name = name or kind.kind
        self.device = pick_device(device)
        self._requested = precision
        self._place()
        self.n_params = n_params(net)

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        self._requested = value
        self._precision = resolve_precision(value, self.net, self.device)

    def _place(self) -> None:
        """Move the network to the device; on CPU keep its weights channels_last (measured 1.2x faster
        for these FiLM UNets at batch 256, benchmarks/RESULTS.md)."""
        self._precision = resolve_precision(self._requested, self.net, self.device)
        self.net.to(self.device)
        if self.device.type == "cpu":
            self.net.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def generate_log(self, cond_scaled: torch.Tensor, noise: torch.Tensor, **sampler: Any) -> torch.Tensor:
        """log1p images from scaled conditions and explicit noise (used by export parity checks)."""
        opts = {**self.sampler, **{k: v for k, v in sampler.items() if v is not None}}
        if self._precision == "bfloat16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return self.kind.sample(self.net, cond_scaled, noise, **opts)
        return self.kind.sample(self.net, cond_scaled, noise, **opts)

    def generate(
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 4096, device: Any = None, **sampler: Any
    ) -> np.ndarray:
        """``(N, 9)`` raw features -> ``(N, nx, ny)`` uint16 counts.

        The noise of rows ``[k*B, (k+1)*B)`` (``B = NOISE_BLOCK``) comes from a CPU generator seeded with
        ``(seed, k)``, so the same seed gives the same noise whatever the batch size or device.
        """
        if batch_size < 1:
            raise FastZDCError(f"batch size must be >= 1, got {batch_size}")
        if device is not None and pick_device(device) != self.device:
            self.device = pick_device(device)
            self._place()
        cond = self.scaler.transform(validate_conditions(conditions))
        out = np.empty((len(cond), *self.detector.shape), np.uint16)
        noise = NoiseStream(0 if seed is None else int(seed), self.kind.noise_shape())
        for start in range(0, len(cond), batch_size):
            c = torch.from_numpy(cond[start : start + batch_size]).to(self.device)
            z = noise.rows(start, start + len(c)).to(self.device)
            out[start : start + len(c)] = counts_from_log_images(self.generate_log(c, z, **sampler), self.kind.dequantized)
        return out


NOISE_BLOCK = 1024
BACKENDS = ("torch", "onnx")


class NoiseStream:
    """Standard-normal noise for rows ``[a, b)`` of a virtual ``(N, *shape)`` array, reproducible from
    ``seed`` alone: block k of ``NOISE_BLOCK`` rows is drawn by ``torch.Generator().manual_seed(seed, k)``."""

    def __init__(self, seed: int, shape: tuple[int, ...]) -> None:
        self.seed = seed
        self.shape = tuple(shape)
        self._cache: tuple[int, torch.Tensor] | None = None

    def _block(self, k: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != k:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + k) % (2**63))
            self._cache = (k, torch.randn((NOISE_BLOCK, *self.shape), generator=gen))
        return self._cache[1]

    def rows(self, a: int, b: int) -> torch.Tensor:
        parts = []
        for k in range(a // NOISE_BLOCK, (b - 1) // NOISE_BLOCK + 1):
            lo, hi = max(a, k * NOISE_BLOCK), min(b, (k + 1) * NOISE_BLOCK)
            parts.append(self._block(k)[lo - k * NOISE_BLOCK : hi - k * NOISE_BLOCK])
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def sampler_overrides(sampler: dict[str, Any] | None, steps: int | None = None, method: str | None = None) -> dict[str, Any]:
    """Sampler options given as ``--sample-opt KEY=VALUE`` merged with the ``--steps``/``--method`` flags."""
    extra = {k: v for k, v in (("steps", steps), ("method", method)) if v is not None}
    return {**(sampler or {}), **extra}


def load_generator(
    path: str | Path, *, device: Any = None, backend: str = "torch", precision: str = "float32", **sampler: Any
) -> ModelGenerator | OnnxGenerator:
    """Load a checkpoint directory (or a run directory: its ``best/``) as a Generator.

    ``precision``: ``float32`` (default), ``bfloat16`` or ``auto`` (:mod:`fastzdc.sampling.precision`;
    the CLI's default is ``auto``). The ONNX Runtime back end runs float32 (``auto`` means float32 there).

    ``backend="onnx"``, or an export folder of ``fastzdc export onnx`` as ``path``, gives the ONNX Runtime
    Generator instead (:func:`fastzdc.export.runtime.load_onnx_generator`; CPU, same noise, same numbers
    up to float rounding).
    """
    if backend not in BACKENDS:
        raise FastZDCError(f"unknown back end {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise FastZDCError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if backend == "onnx" or (Path(path) / "model_card.json").is_file():
        if device is not None and str(device) not in ("cpu", "auto"):
            raise FastZDCError(f"the ONNX Runtime back end runs on the CPU, got device {device!r}", path)
        if precision not in ("auto", "float32"):
            raise FastZDCError(f"the ONNX Runtime back end runs float32, got precision {precision!r}", path)
        from ..export.runtime import load_onnx_generator

        return load_onnx_generator(path, **sampler)
    ckpt = resolve(path)
    cfg = load_config(ckpt)
    kind = get_kind(cfg["kind"])(get_detector(cfg["detector"]), cfg["hparams"])
    net = kind.build()
    load_weights_into(net, load_tensors(ckpt / WEIGHTS), ckpt / WEIGHTS)
    scaler = StandardScaler.from_dict(cfg["scaler"], ckpt)
    name = cfg.get("name") or f"{cfg['kind']}-{cfg['detector']}"
    opts = {**cfg.get("sampler", {}), **{k: v for k, v in sampler.items() if v is not None}}
    return ModelGenerator(kind, net, scaler, opts, name=name, device=device, precision=precision)
