"""A trained network as a :class:`~fastzdc.generator.Generator` (PyTorch): raw particles in, photon counts out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._alloc import tune_allocator_once
from ..data.scaler import StandardScaler
from ..data.validate import validate_conditions
from ..detector import Detector
from ..devices import pick_device
from ..errors import FastZDCError
from ..models import ModelKind
from ..nn.unet import n_params
from ..sampling.counts import sample_counts
from ..sampling.noise import NoiseStream
from .precision import resolve_precision

BF16_BLOCK = {"cpu": 1024, "cuda": 4096}
"""Rows per network call in bfloat16, whatever the batch size asked for (the last call padded): the same
seed then gives the same counts at every batch size. 1024 on the CPU: the latent FM's MLP runs 1.3x
faster per sample than at 256 and 1.4x slower than at 4096, and a few rows cost one 1024-row call
(benchmarks/RESULTS.md, "Same seed at every batch size")."""


class ModelGenerator:
    """Sampling front end of a trained model (any kind).

    Args:
        kind: the model kind (network builder + sampler).
        net: the network with its (EMA) weights.
        scaler: the condition scaler fitted on the training split.
        sampler: sampler options (e.g. ``steps``, ``method``); defaults from the kind.
        precision: ``"float32"``, ``"bfloat16"`` (autocast) or ``"auto"`` (bfloat16 where it is native
            and measured safe, else float32); see :mod:`fastzdc.inference.precision`. The attribute
            holds the resolved value.
    """

    backend = "torch"

    def __init__(
        self,
        kind: ModelKind,
        net: torch.nn.Module,
        scaler: StandardScaler,
        sampler: dict[str, Any] | None = None,
        name: str | None = None,
        precision: str = "float32",
        device: Any = None,
        source: str = "",
        config: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.source = source
        """the checkpoint folder it was loaded from ("" when built in memory)"""
        self.config = dict(config or {})
        """the checkpoint's ``config.json`` (training data, metrics, ...)"""
        self.detector: Detector = kind.detector
        self.net = net.eval()
        self.scaler = scaler
        self.sampler = kind.sampler_options(sampler)
        self.adjustable = frozenset(kind.sampler_defaults)
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
        """Move the network to the device (re-resolving ``auto`` precision for it); on CPU keep its weights
        channels_last (measured 1.2x faster for these FiLM UNets at batch 256, benchmarks/RESULTS.md)."""
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
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 4096, device: Any = None,
        advance: Callable[[int], None] | None = None, **sampler: Any,
    ) -> np.ndarray:
        """``(N, 9)`` raw features -> ``(N, nx, ny)`` uint16 counts.

        The noise comes from :class:`~fastzdc.sampling.noise.NoiseStream` seeded with ``seed``, so the same
        seed gives the same noise whatever the batch size or device. In bfloat16 the network always runs on
        :data:`BF16_BLOCK` rows (fewer rows: the next power of two, at least 16; ``batch_size`` is then
        ignored), so the counts do not depend on the batch size either. ``advance(k)`` is called after every
        batch (progress bars).
        """
        if batch_size < 1:
            raise FastZDCError(f"batch size must be >= 1, got {batch_size}")
        if device is not None and pick_device(device) != self.device:
            self.device = pick_device(device)
            self._place()
        self.kind.sampler_options(sampler)  # unknown options fail here, before any work
        cond = self.scaler.transform(validate_conditions(conditions))
        noise = NoiseStream(0 if seed is None else int(seed), self.kind.noise_shape())
        fixed = self._precision == "bfloat16"
        if fixed:  # bfloat16 kernels round differently for different batch shapes: a shape set by the rows
            block = BF16_BLOCK.get(self.device.type, BF16_BLOCK["cpu"])
            batch_size = min(block, 1 << max(4, (len(cond) - 1).bit_length()))  # fewer rows: next power of 2
        if self.device.type == "cpu":  # large CPU batches: the CLI's allocator settings (fastzdc._alloc)
            tune_allocator_once(min(batch_size, len(cond)))
        return sample_counts(lambda c, z: self.generate_log(c, z, **sampler), cond, noise, self.detector.shape,
                             batch_size=batch_size, device=self.device, dequantized=self.kind.dequantized, advance=advance,
                             pad=fixed)
