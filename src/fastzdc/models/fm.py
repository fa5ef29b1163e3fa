"""Conditional flow matching (rectified flow) on log1p images.

Path from noise ``z ~ N(0, I)`` (t = 0) to data ``x1`` (t = 1): ``x_t = (1 - t) z + t x1``; the
network regresses the constant velocity ``u = x1 - z``:

    L = E_{t, z, x1} || v(x_t, c, t) - (x1 - z) ||^2

with ``t ~ U[0, 1)`` or logit-normal ``t = sigmoid(N(m, s))``. Sampling integrates ``dx/dt = v`` from
noise with Euler / midpoint / Heun (:mod:`fastzdc.sampling.ode`) and clamps the log1p image at 0.

``physics_cond = true`` gives the network four derived features beside the 9 (log energy, the
straight-line impact point on the calorimeter face, the magnetic rigidity q/p;
:mod:`fastzdc.nn.physics`), computed inside the network from the scaled features.

``dequantize = true`` trains on ``log1p(n + u)``, ``u ~ U[0, 1)`` per pixel, and decodes with
``floor(exp(x) - 1)``: the integer counts become a continuous density, so sparse single-photon pixels
(most of ZP) need no point mass at exactly 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FastZDCError
from ..nn.physics import N_DERIVED, PhysicsConditionedNet, PhysicsConditions
from ..nn.unet import CondUNet
from ..sampling.ode import METHODS, integrate
from .base import ModelKind, register


@register
class FlowMatching(ModelKind):
    kind = "fm"
    defaults = {
        "widths": [8, 24, 48],
        "blocks": [1, 1, 2],
        "emb_dim": 64,
        "attn_tokens": False,
        "norm": True,
        "cond_via": "film",
        "dequantize": False,
        "time_sampling": "logit-normal",
        "logit_mean": 0.0,
        "logit_std": 1.0,
        "physics_cond": False,
    }
    sampler_defaults = {"steps": 4, "method": "midpoint", "shift": 1.0}

    def build(self) -> nn.Module:
        h = self.hparams
        unet = CondUNet(
            self.detector.shape,
            widths=tuple(h["widths"]),
            blocks=tuple(h["blocks"]),
            emb_dim=int(h["emb_dim"]),
            n_features=9 + (N_DERIVED if h["physics_cond"] else 0),
            attn_tokens=bool(h["attn_tokens"]),
            norm=bool(h["norm"]),
            cond_via=str(h["cond_via"]),
        )
        return PhysicsConditionedNet(unet, PhysicsConditions(self.detector)) if h["physics_cond"] else unet

    def bind_scaler(self, net: nn.Module, mean, scale) -> None:
        if isinstance(net, PhysicsConditionedNet):
            net.physics.set_scaler(mean, scale)

    def sampler_options(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = super().sampler_options(overrides)
        if opts["method"] not in METHODS:
            raise FastZDCError(f"unknown sampler method {opts['method']!r}; choose one of: {', '.join(METHODS)}")
        if not isinstance(opts["steps"], int) or isinstance(opts["steps"], bool) or opts["steps"] < 1:
            raise FastZDCError(f"sampler steps must be a positive integer, got {opts['steps']!r}")
        if isinstance(opts["shift"], bool) or not isinstance(opts["shift"], (int, float)) or not 0 < opts["shift"] < float("inf"):
            raise FastZDCError(f"sampler shift must be a positive number, got {opts['shift']!r}")
        return opts

    def _sample_t(self, b: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        h = self.hparams
        if h["time_sampling"] == "uniform":
            return torch.rand(b, generator=gen, device=device)
        if h["time_sampling"] == "logit-normal":
            return torch.sigmoid(h["logit_mean"] + h["logit_std"] * torch.randn(b, generator=gen, device=device))
        raise FastZDCError(f"unknown time_sampling {h['time_sampling']!r}; choose uniform or logit-normal")

    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        if self.hparams.get("dequantize"):
            x = torch.log1p(torch.expm1(x) + torch.rand(x.shape, generator=gen, device=x.device))
        z = torch.randn(x.shape, generator=gen, device=x.device)
        t = self._sample_t(b, gen, x.device)
        tb = t[:, None, None, None]
        xt = (1 - tb) * z + tb * x
        v = net(xt, cond, t)
        return torch.mean((v.float() - (x - z)) ** 2)

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        opts = self.sampler_options(options)
        x = integrate(lambda x, t: net(x, cond, t).float(), noise, int(opts["steps"]), str(opts["method"]), float(opts["shift"]))
        return x.clamp_min(0.0)
