"""Embeddings of the flow time and of the particle features."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalTime(nn.Module):
    """``t in [0, 1] -> [cos(w_k t), sin(w_k t)]`` with ``w_k = 1000 * 10000^(-k/(d/2))``-style log spacing.

    The time is scaled by 1000 first so that the lowest frequencies still vary over [0, 1] (the
    reference code fed t in [0, 1] to frequencies made for [0, 1000]; that leaves most features flat).
    """

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        half = dim // 2
        freqs = 1000.0 * torch.exp(-math.log(10000.0) * torch.arange(half) / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        ang = t[:, None].float() * self.freqs[None]
        return torch.cat([torch.cos(ang), torch.sin(ang)], dim=1)


class ConditionEmbedding(nn.Module):
    """Joint embedding of (scaled particle features, time): ``MLP([cond_mlp(c), sin(t)]) -> dim``.

    With ``use_cond=False`` only the time is embedded (the condition then enters elsewhere, e.g. as an
    attention token).
    """

    def __init__(self, n_features: int = 9, dim: int = 64, time_dim: int = 16, use_cond: bool = True) -> None:
        super().__init__()
        self.time = SinusoidalTime(time_dim)
        self.cond = nn.Sequential(nn.Linear(n_features, dim), nn.SiLU()) if use_cond else None
        width = (dim if use_cond else 0) + time_dim
        self.mix = nn.Sequential(nn.Linear(width, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())

    def forward(self, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        parts = [self.time(t)] if self.cond is None else [self.cond(cond), self.time(t)]
        return self.mix(torch.cat(parts, dim=1))
