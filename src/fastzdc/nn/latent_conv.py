"""A lean convolutional velocity network for latent maps (11x11 / 14x8): all work at half the latent
resolution, where 3x3 convolutions are wide enough to run near the CPU's peak.

    [x, ctx] --pad to even, space-to-depth 2--> (4 (c + c_ctx), h/2, w/2) --3x3 conv--> width
    --> depth x FiLM residual blocks (no norm) --> 3x3 conv --> 4 c --depth-to-space 2, crop--> (c, h, w)

A UNet on the 11x11 latent spends its time in thin 12x12 layers and norms; this net has the same
receptive field over the latent with a third of the work (benchmarks/RESULTS.md, latent FM section).

>>> net = LatentConvNet((4, 11, 11), width=16, depth=1, ctx_ch=4)
>>> tuple(net(torch.zeros(2, 4, 11, 11), torch.zeros(2, 9), torch.zeros(2), torch.zeros(2, 4, 11, 11)).shape)
(2, 4, 11, 11)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .embeddings import ConditionEmbedding
from .unet import FiLMResBlock


class LatentConvNet(nn.Module):
    def __init__(
        self, shape: tuple[int, int, int], width: int = 64, depth: int = 1, emb_dim: int = 64, ctx_ch: int = 0, n_features: int = 9
    ) -> None:
        super().__init__()
        c, h, w = shape
        self.shape = tuple(shape)
        self.ph, self.pw = h % 2, w % 2
        self.emb = ConditionEmbedding(n_features, emb_dim)
        self.inp = nn.Conv2d(4 * (c + ctx_ch), width, 3, padding=1)
        self.blocks = nn.ModuleList(FiLMResBlock(width, emb_dim, norm=False) for _ in range(depth))
        self.out = nn.Conv2d(width, 4 * c, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.emb(cond, t)
        h = x if ctx is None else torch.cat([x, ctx], dim=1)
        if self.ph or self.pw:
            h = F.pad(h, (0, self.pw, 0, self.ph))
        h = self.inp(F.pixel_unshuffle(h, 2))
        for blk in self.blocks:
            h = blk(h, emb)
        out = F.pixel_shuffle(self.out(F.silu(h)), 2)
        return out[:, :, : self.shape[1], : self.shape[2]]
