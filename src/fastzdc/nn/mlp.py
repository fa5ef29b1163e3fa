"""A residual MLP velocity network ``v(z, c, t)`` on flattened latent maps.

On CPU a matrix product over a few hundred features runs far closer to peak than thin convolutions
on an 11x11 grid (benchmarks/RESULTS.md, latent FM section), so the latent flow can be an MLP:

    h = W_in vec(z);   h <- h + W_2 silu(FiLM_k(W_1 silu(LN(h))))   (depth times);   v = W_out silu(LN(h))

with FiLM scale/shift from the joint embedding of the scaled particle features and the flow time
(:class:`~fastzdc.nn.embeddings.ConditionEmbedding`). The last layer of every block is zero-initialised.

>>> net = LatentMLP((4, 11, 11), hidden=64, depth=2)
>>> tuple(net(torch.zeros(3, 4, 11, 11), torch.zeros(3, 9), torch.zeros(3)).shape)
(3, 4, 11, 11)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .embeddings import ConditionEmbedding


class _Block(nn.Module):
    def __init__(self, hidden: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.l1 = nn.Linear(hidden, hidden)
        self.film = nn.Linear(emb_dim, 2 * hidden)
        self.l2 = nn.Linear(hidden, hidden)
        for m in (self.l2, self.film):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).chunk(2, dim=1)
        return h + self.l2(F.silu(self.l1(F.silu(self.norm(h))) * (1 + scale) + shift))


class LatentMLP(nn.Module):
    """Velocity of latent maps ``(B, *shape)``; conditions ``(B, 9)`` scaled, time ``(B,)`` in [0, 1]."""

    def __init__(
        self, shape: tuple[int, ...], hidden: int = 512, depth: int = 3, emb_dim: int = 64, n_features: int = 9, ctx_ch: int = 0
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        dim = math.prod(self.shape)
        self.emb = ConditionEmbedding(n_features, emb_dim)
        self.inp = nn.Linear(dim + ctx_ch * math.prod(self.shape[1:]), hidden)
        self.blocks = nn.ModuleList(_Block(hidden, emb_dim) for _ in range(depth))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim)

    def forward(self, z: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """``ctx``: optional context maps ``(B, ctx_ch, h, w)`` (e.g. the conditional mean latent)."""
        emb = self.emb(cond, t)
        flat = z.reshape(z.shape[0], -1)
        if ctx is not None:
            flat = torch.cat([flat, ctx.reshape(ctx.shape[0], -1)], dim=1)
        h = self.inp(flat)
        for blk in self.blocks:
            h = blk(h, emb)
        return self.out(F.silu(self.out_norm(h))).reshape(z.shape[0], *self.shape)


class ConditionalMean(nn.Module):
    """``m(c)``: an MLP from the scaled particle features to a latent map ``(B, *shape)``
    (``9 -> hidden -> ... -> prod(shape)``, SiLU; last layer zero-initialised)."""

    def __init__(self, shape: tuple[int, ...], hidden: int = 512, depth: int = 2, n_features: int = 9) -> None:
        super().__init__()
        self.shape = tuple(shape)
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, math.prod(self.shape))
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.net(cond).reshape(cond.shape[0], *self.shape)
