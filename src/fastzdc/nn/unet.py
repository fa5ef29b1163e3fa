"""A small conditional UNet for ZDC images: thin at full resolution, capacity at low resolution.

Design (the cost of these nets sits in the full-resolution layers):

* images are zero-padded symmetrically to a multiple of 4 (ZP 56x30 -> 56x32, one column each side)
  and cropped back by the same amount: every output pixel stays on its fibre (no shifting crop);
* three levels, widths ``(c0, c1, c2)`` at full, 1/2 and 1/4 resolution; 2x2 stride-2 convolutions
  down, 2x2 stride-2 transposed convolutions up, additive skips;
* residual blocks ``x + conv(act(FiLM(conv(act(norm(x))))))`` with FiLM scale/shift from a joint
  embedding of the scaled particle features and the flow time (:class:`ConditionEmbedding`);
* optionally ``attn_tokens``: one self-attention block at the lowest resolution (11x11 = 121 tokens)
  with the condition embedding appended as an extra token (the published conditioning scheme,
  without its one-token shift); with ``cond_via="token"`` the particle features enter *only* through
  that token and FiLM carries the time alone (the published scheme; compared in benchmarks/RESULTS.md).

>>> net = CondUNet(in_shape=(44, 44), widths=(8, 24, 48))
>>> v = net(torch.zeros(2, 1, 44, 44), torch.zeros(2, 9), torch.zeros(2))
>>> tuple(v.shape)
(2, 1, 44, 44)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .embeddings import ConditionEmbedding
from .float32 import in_float32


def _groups(c: int) -> int:
    for g in (8, 4, 2):
        if c % g == 0 and c // g >= 2:
            return g
    return 1


class GroupNorm32(nn.GroupNorm):
    """GroupNorm that stays float32 under autocast (a float32 input passes unchanged: outside autocast it
    is GroupNorm, same checkpoints, same export). Under bfloat16 autocast on the CPU, PyTorch's bfloat16
    GroupNorm is both slow on channels_last tensors and biased: +1.6 % photons on the ZN student, 0.5 %
    with float32 norms, 0.2 % with the output convolution in float32 too (benchmarks/RESULTS.md)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_float32(super().forward, x).to(x.dtype)


class Float32Conv2d(nn.Conv2d):
    """Conv2d that stays float32 under autocast (the UNet's 1-channel output head; see GroupNorm32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return in_float32(super().forward, x)


class FiLMResBlock(nn.Module):
    def __init__(self, c: int, emb_dim: int, norm: bool = True) -> None:
        super().__init__()
        self.norm = GroupNorm32(_groups(c), c) if norm else nn.Identity()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        # Half the time of these thin blocks on a CPU is element-wise memory traffic, not convolution:
        # FiLM as one addcmul and in-place activations / residual add (1.07x at batch 256, RESULTS.md).
        h = self.conv1(F.silu(self.norm(x), inplace=not torch.is_grad_enabled()))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = torch.addcmul(shift, h, scale + 1)
        out = self.conv2(F.silu(h, inplace=not torch.is_grad_enabled()))
        return out.add_(x) if not torch.is_grad_enabled() else out + x


class TokenAttention(nn.Module):
    """Global self-attention over the pixels plus one condition token (kept pixels only)."""

    def __init__(self, c: int, emb_dim: int, heads: int = 2) -> None:
        super().__init__()
        self.norm = GroupNorm32(_groups(c), c)
        self.cond = nn.Linear(emb_dim, c)
        self.attn = nn.MultiheadAttention(c, heads, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens, self.cond(emb)[:, None]], dim=1)
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return x + out[:, : h * w].transpose(1, 2).reshape(b, c, h, w)


class CondUNet(nn.Module):
    """Velocity/denoiser network ``v(x, cond, t)`` on ``(B, in_ch, H, W)`` images.

    Under bfloat16 autocast the convolutions run in bfloat16 while the GroupNorms and the output
    convolution stay float32 (:class:`GroupNorm32`, :class:`Float32Conv2d`); ``auto_bfloat16`` lets
    ``--precision auto`` pick that mode (:mod:`fastzdc.inference.precision`).

    Args:
        in_shape: image shape ``(H, W)`` (44x44 or 56x30; any size works).
        widths: channels at full, 1/2 and 1/4 resolution.
        blocks: residual blocks per level ``(full, half, quarter)``; the up path mirrors them.
        emb_dim: width of the condition/time embedding.
        attn_tokens: add the published-style attention block with a condition token at 1/4 resolution.
        norm: use GroupNorm in the residual blocks.
    """

    auto_bfloat16 = True
    """bfloat16 autocast measured safe for this network (fidelity within the noise seed's scatter;
    benchmarks/RESULTS.md, "bfloat16 on the CPU")"""

    def __init__(
        self,
        in_shape: tuple[int, int],
        widths: tuple[int, int, int] = (8, 24, 48),
        blocks: tuple[int, int, int] = (1, 1, 2),
        emb_dim: int = 64,
        n_features: int = 9,
        in_ch: int = 1,
        attn_tokens: bool = False,
        norm: bool = True,
        cond_via: str = "film",
    ) -> None:
        super().__init__()
        if cond_via not in ("film", "token"):
            raise ValueError(f"cond_via must be 'film' or 'token', got {cond_via!r}")
        self.cond_via = cond_via
        if cond_via == "token":
            attn_tokens = True
            self.cond_token = nn.Sequential(nn.Linear(n_features, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.in_shape = tuple(in_shape)
        h, w = self.in_shape
        self.pad_h, self.pad_w = (-h) % 4, (-w) % 4
        c0, c1, c2 = widths
        self.emb = ConditionEmbedding(n_features, emb_dim, use_cond=cond_via == "film")
        self.stem = nn.Conv2d(in_ch, c0, 3, padding=1)
        self.down0 = nn.ModuleList(FiLMResBlock(c0, emb_dim, norm) for _ in range(blocks[0]))
        self.pool0 = nn.Conv2d(c0, c1, 2, stride=2)
        self.down1 = nn.ModuleList(FiLMResBlock(c1, emb_dim, norm) for _ in range(blocks[1]))
        self.pool1 = nn.Conv2d(c1, c2, 2, stride=2)
        self.mid = nn.ModuleList(FiLMResBlock(c2, emb_dim, norm) for _ in range(blocks[2]))
        self.attn = TokenAttention(c2, emb_dim) if attn_tokens else None
        self.unpool1 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.up1 = nn.ModuleList(FiLMResBlock(c1, emb_dim, norm) for _ in range(blocks[1]))
        self.unpool0 = nn.ConvTranspose2d(c1, c0, 2, stride=2)
        self.up0 = nn.ModuleList(FiLMResBlock(c0, emb_dim, norm) for _ in range(blocks[0]))
        self.out_norm = GroupNorm32(_groups(c0), c0) if norm else nn.Identity()
        self.out = Float32Conv2d(c0, in_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.emb(cond, t)
        ph, pw = self.pad_h, self.pad_w
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        h0 = self.stem(x)
        for blk in self.down0:
            h0 = blk(h0, emb)
        h1 = self.pool0(h0)
        for blk in self.down1:
            h1 = blk(h1, emb)
        h2 = self.pool1(h1)
        for k, blk in enumerate(self.mid):
            h2 = blk(h2, emb)
            if k == 0 and self.attn is not None:
                h2 = self.attn(h2, self.cond_token(cond) if self.cond_via == "token" else emb)
        u1 = self.unpool1(h2) + h1
        for blk in self.up1:
            u1 = blk(u1, emb)
        u0 = self.unpool0(u1) + h0
        for blk in self.up0:
            u0 = blk(u0, emb)
        out = self.out(F.silu(self.out_norm(u0)))
        if ph or pw:
            out = out[:, :, ph // 2 : ph // 2 + self.in_shape[0], pw // 2 : pw // 2 + self.in_shape[1]]
        return out


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
