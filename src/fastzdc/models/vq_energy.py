"""Energy-score tuning of a VQ-GAN's decoder on its own prior's token grids.

The VQ decoder learns to decode the token grids of real showers. At sampling time it reads the grids the
prior draws instead, which have small incoherences between neighbouring cells; the decoded light of a
particle then has the wrong spread (on ZN the common channel carries most of the VQ-GAN's W). This stage
starts from a trained prior (``model.prior = PRIOR_RUN/best``, a ``vq-prior`` checkpoint, or a ``vq-energy``
one to tune further, e.g. on other data), keeps its GPT,
prefix and codebook frozen, and retrains only the decoder, on two token grids ``t1, t2`` drawn by that
prior for every training particle ``c`` (once, before training, with the sampler's token filter):

    L = ES(f(D(t1, c)), f(D(t2, c)); f(y)) + w_anchor/2 sum_j mean (D(t_j, c) - D0(t_j, c))^2,
    ES(a, b; y) = (|a - y| + |b - y|) / 2 - |a - b| / 2

with ``y`` the particle's simulated response and ``f`` its 5 channel sums, drawn Poisson around the decoded
mean light, on the ``energy_scale`` (:mod:`fastzdc.models.scoring`); with ``energy_shape`` also the
lit-fibre count and the brightest fibre. The energy score is smallest exactly when the law of these
features given the particle is the data's, so the decoder learns to decode the prior's grids to the
right light. It says nothing about the rest of the shower's shape: the anchor (``w_anchor``, ``D0`` the
source decoder, frozen) keeps the log1p maps close to those that decoder learnt from real grids.

The checkpoint is a complete VQ-GAN (GPT, prefix, tuned decoder, codebook) that samples exactly as a
``vq-prior`` checkpoint does (:meth:`fastzdc.models.vq_prior.VQPrior.sample`), so generation, evaluation,
the response gate and the ONNX export take it unchanged. Usage::

    fastzdc train vq-energy --config configs/vq-energy-zn.toml --data DATA --out runs/vq-energy-zn \\
        --set model.prior=runs/vq-prior-zn/best
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..detector import N_CHANNELS
from ..errors import FastZDCError
from ..sampling.categorical import check_options as check_filter
from ..sampling.noise import SplitNoise, TrainingRows
from .base import FirstStage, ModelKind, register
from .scoring import SCALES, drawn_shape_features, drawn_sum_features, energy_score, shape_features
from .scoring import check_options as check_score
from .vq_prior import VQPrior


@register
class VQEnergyTuning(ModelKind):
    kind = "vq-energy"
    defaults = {  # noqa: RUF012  (read-only class data, as in every model kind)
        "prior": "",
        "prior_hparams": {},
        "prior_weights_sha256": "",
        "energy_scale": "sqrt",
        "energy_shape": True,
        "w_anchor": 300.0,
        "draw_temperature": 1.0,
        "draw_top_k": 32,
        "draw_top_p": 1.0,
        "draw_seed": 0,
    }
    """the ZN recipe's settings (``configs/vq-energy-zn.toml``)"""
    sampler_defaults = {"temperature": 1.0, "top_k": 32, "top_p": 1.0, "dither": True, "poisson": True}  # noqa: RUF012
    """the token filter of the draws and the Poisson counts the score assumes"""
    first_stage = FirstStage(option="prior", kind="vq-prior", label="VQ-GAN prior", sha="prior_weights_sha256",
                             hparams="prior_hparams", also=("vq-energy",))
    quick_export = False

    def __init__(self, detector, hparams: dict[str, Any] | None = None) -> None:
        super().__init__(detector, hparams)
        h = self.hparams
        check_score(self.kind, 1.0, h["energy_scale"])
        try:
            check_filter(h["draw_temperature"], h["draw_top_k"], h["draw_top_p"])
        except FastZDCError as err:
            raise FastZDCError(f"vq-energy draw_{err}") from None
        if isinstance(h["w_anchor"], bool) or not isinstance(h["w_anchor"], (int, float)) or not h["w_anchor"] >= 0:
            raise FastZDCError(f"vq-energy w_anchor must be a number >= 0, got {h['w_anchor']!r}")
        if not isinstance(h["energy_shape"], bool):
            raise FastZDCError(f"vq-energy energy_shape must be true or false, got {h['energy_shape']!r}")
        if isinstance(h["draw_seed"], bool) or not isinstance(h["draw_seed"], int) or h["draw_seed"] < 0:
            raise FastZDCError(f"vq-energy draw_seed must be an integer >= 0, got {h['draw_seed']!r}")
        source = h["prior_hparams"]
        while "prior_hparams" in source:  # a tuned VQ-GAN as the source: its own prior's network
            source = source["prior_hparams"]
        self.prior_kind = VQPrior(detector, source)
        self.vq_kind = self.prior_kind.vq_kind
        self.source: nn.Module | None = None
        """the source prior, frozen, for the anchor term (set by :meth:`training_inputs`)"""

    def n_tokens(self) -> int:
        return self.prior_kind.n_tokens()

    # ------------------------------------------------------------------ network
    def noise_shape(self) -> tuple[int, ...]:
        return self.prior_kind.noise_shape()

    def build(self) -> nn.Module:
        """The prior's network with only its decoder trainable."""
        net = self.prior_kind.build()
        net.requires_grad_(False)
        net.decoder.requires_grad_(True)
        return net

    # ------------------------------------------------------------------ training
    def first_stage_network(self) -> nn.Module:
        return self.prior_kind.build()

    def start_weights(self, net: nn.Module, first_stage: nn.Module | None) -> None:
        """A fresh run starts as the source prior (the tuning of the identity is the source VQ-GAN)."""
        if first_stage is None:
            raise FastZDCError("vq-energy starts from its prior: the training set-up passes it")
        net.load_state_dict(first_stage.state_dict())

    @torch.no_grad()
    def training_inputs(self, net: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
                        first_stage: nn.Module | None = None, rows: TrainingRows | None = None) -> torch.Tensor:
        """Two token grids per training row drawn by the frozen source prior (seeded by ``draw_seed``, the same
        for a row on any number of processes), and the row's 5 channel sums, lit-fibre count and maximum
        pixel: ``(n, 2 T + 7)`` float32 (token indices are exact in float32)."""
        if first_stage is None:
            raise FastZDCError("vq-energy draws its token grids with its prior: the training set-up passes it")
        h = self.hparams
        if h["w_anchor"]:  # the source prior's decoder, frozen, for the anchor term
            self.source = copy.deepcopy(first_stage).requires_grad_(False).eval()
        stream = SplitNoise(int(h["draw_seed"]), self.noise_shape()[1:], lead=(2,), rows=rows)
        parts = []
        for x, c in batches:
            first_stage.to(x.device)
            noise = stream.take(x.shape[0]).to(x.device)
            draws = [VQPrior.draw_tokens(first_stage, c, n, float(h["draw_temperature"]), int(h["draw_top_k"]),
                                         float(h["draw_top_p"])) for n in noise]
            counts = torch.expm1(x)[:, 0].float().round()
            parts.append(torch.cat([*draws, self.detector.channel_sums(counts), shape_features(counts)], 1).float())
        return torch.cat(parts)

    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        t = self.n_tokens()
        scale = str(self.hparams["energy_scale"])
        shape = bool(self.hparams["energy_shape"])
        y = x[:, 2 * t:] if shape else x[:, 2 * t:2 * t + N_CHANNELS]
        feats, anchor = [], 0.0
        for j in range(2):
            tokens = x[:, j * t:(j + 1) * t].long()
            mean_log = net.decode(tokens, cond).float()
            if self.hparams["w_anchor"]:
                if self.source is None:
                    raise FastZDCError("vq-energy w_anchor needs the source decoder: training_inputs sets it")
                self.source.to(x.device)
                anchor = anchor + torch.mean((mean_log - self.source.decode(tokens, cond).float()) ** 2)
            eps = torch.randn(y.shape, generator=gen, device=x.device)
            f = drawn_sum_features(self.detector, mean_log, eps[:, :N_CHANNELS], scale)
            feats.append(torch.cat([f, drawn_shape_features(mean_log, eps[:, N_CHANNELS:], scale)], 1) if shape else f)
        return energy_score(*feats, SCALES[scale](y)) + self.hparams["w_anchor"] * anchor / 2

    # ------------------------------------------------------------------ sampling
    def sampler_options(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = super().sampler_options(overrides)  # the prior's options, named as this kind's in errors
        check_filter(opts["temperature"], opts["top_k"], opts["top_p"])
        return opts

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        return self.prior_kind.sample(net, cond, noise, **options)
