"""Convolutional VAE for ZDC images: a latent map at 1/4 resolution (ZN 11x11, ZP 14x8).

Encoder ``q(z|x) = N(mu(x), diag exp(logvar(x)))``; decoder ``x_hat = D(z)`` in log1p units.

Shapes (``z_ch`` latent channels): ``(B, 1, H, W) -> (B, z_ch, ceil(H/4), ceil(W/4)) -> (B, 1, H, W)``;
images are zero-padded symmetrically to a multiple of 4 (ZP 56x30 -> 56x32) and the decoder output is
cropped back by the same amount, so every pixel stays on its fibre.

The decoder runs at every generated sample, so it is built for CPU speed (the
cost sits in the full-resolution layers): residual blocks at 1/4 and 1/2 resolution only, no
normalisation layers, and the last layer is a 3x3 convolution to ``4`` channels at 1/2 resolution
followed by a pixel shuffle (each 1/2-resolution cell writes its 2x2 output pixels); with
``dec_widths[0] == 0`` the 1/2-resolution stage is skipped and a pixel shuffle by 4 writes 4x4 blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .unet import _groups


class ResBlock(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))))))``, second conv zero-initialised (starts as identity)."""

    def __init__(self, c: int, norm: bool = False) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(_groups(c), c) if norm else nn.Identity()
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.n2 = nn.GroupNorm(_groups(c), c) if norm else nn.Identity()
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.silu(self.n2(self.c1(F.silu(self.n1(x))))))


def _pad4(shape: tuple[int, int]) -> tuple[int, int]:
    return (-shape[0]) % 4, (-shape[1]) % 4


def latent_hw(shape: tuple[int, int]) -> tuple[int, int]:
    """Latent map size of an image shape: ``ceil(H/4), ceil(W/4)`` (ZN 11x11, ZP 14x8)."""
    return (shape[0] + 3) // 4, (shape[1] + 3) // 4


class Encoder(nn.Module):
    """3x3 stem at full resolution, 2x2 stride-2 convs down, residual blocks (GroupNorm) at 1/2, 1/4.

    ``forward`` returns the Gaussian posterior ``(mu, logvar)`` (``z_ch`` channels each); with
    ``gaussian=False`` the head has ``z_ch`` channels and :meth:`features` is the encoding itself (the
    VQ autoencoder's continuous latents before quantisation).
    """

    def __init__(
        self, in_shape: tuple[int, int], widths=(8, 16, 32), blocks=(1, 1), z_ch: int = 4, gaussian: bool = True
    ) -> None:
        super().__init__()
        self.pad_h, self.pad_w = _pad4(in_shape)
        c0, c1, c2 = widths
        self.stem = nn.Conv2d(1, c0, 3, padding=1)
        self.down0 = nn.Conv2d(c0, c1, 2, stride=2)
        self.blocks_half = nn.Sequential(*(ResBlock(c1, norm=True) for _ in range(blocks[0])))
        self.down1 = nn.Conv2d(c1, c2, 2, stride=2)
        self.blocks_quarter = nn.Sequential(*(ResBlock(c2, norm=True) for _ in range(blocks[1])))
        self.out_norm = nn.GroupNorm(_groups(c2), c2)
        self.out = nn.Conv2d(c2, 2 * z_ch if gaussian else z_ch, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` -> the head's output ``(B, out_ch, ceil(H/4), ceil(W/4))``."""
        ph, pw = self.pad_h, self.pad_w
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        h = self.down0(F.silu(self.stem(x)))
        h = self.down1(self.blocks_half(h))
        return self.out(F.silu(self.out_norm(self.blocks_quarter(h))))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.features(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)


class Decoder(nn.Module):
    """Latent ``(B, z_ch, h, w)`` -> log1p image ``(B, 1, H, W)`` (unclamped; clamp at 0 when sampling).

    With ``cond_hidden > 0`` the decoder is also told the particle: an MLP of the scaled features
    (``9 -> cond_hidden -> widths[1] * h * w``, last layer zero-initialised) adds a 1/4-resolution map
    after the input convolution, so the latent need not spell out where the particle points.
    """

    def __init__(self, out_shape: tuple[int, int], widths=(16, 32), blocks=(1, 1), z_ch: int = 4,
                 cond_hidden: int = 0, n_features: int = 9) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.pad_h, self.pad_w = _pad4(out_shape)
        c1, c2 = widths
        self.inp = nn.Conv2d(z_ch, c2, 3, padding=1)
        self.cond_map = None
        if cond_hidden:
            self.hw = latent_hw(out_shape)
            last = nn.Linear(cond_hidden, c2 * self.hw[0] * self.hw[1])
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.cond_map = nn.Sequential(nn.Linear(n_features, cond_hidden), nn.SiLU(), last)
        self.blocks_quarter = nn.Sequential(*(ResBlock(c2) for _ in range(blocks[1])))
        if c1 > 0:
            self.up = nn.ConvTranspose2d(c2, c1, 2, stride=2)
            self.blocks_half = nn.Sequential(*(ResBlock(c1) for _ in range(blocks[0])))
            self.head = nn.Conv2d(c1, 4, 3, padding=1)
            self.shuffle = 2
        else:
            self.up = None
            self.blocks_half = nn.Sequential()
            self.head = nn.Conv2d(c2, 16, 3, padding=1)
            self.shuffle = 4

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``cond``: scaled particle features ``(B, 9)``, used with ``cond_hidden > 0`` only."""
        h = self.inp(z)
        if self.cond_map is not None:
            if cond is None:
                raise ValueError("this decoder is conditional: pass the scaled particle features")
            h = h + self.cond_map(cond.to(h.dtype)).reshape(h.shape)
        h = self.blocks_quarter(h)
        if self.up is not None:
            h = self.blocks_half(self.up(F.silu(h)))
        x = F.pixel_shuffle(self.head(F.silu(h)), self.shuffle)
        ph, pw = self.pad_h, self.pad_w
        if ph or pw:
            x = x[:, :, ph // 2 : ph // 2 + self.out_shape[0], pw // 2 : pw // 2 + self.out_shape[1]]
        return x


class VectorEncoder(nn.Module):
    """``q(z | x, c)`` over a ``z_dim`` vector: the conv :class:`Encoder`'s 1/4-resolution features
    (``feat_ch`` channels), flattened beside the scaled particle features, then one linear layer to
    ``(mu, logvar)``. Returned as ``(B, z_dim, 1, 1)`` maps, so latent code works on maps throughout."""

    def __init__(self, in_shape: tuple[int, int], widths=(8, 16, 32), blocks=(1, 1), z_dim: int = 32,
                 feat_ch: int = 8, n_features: int = 9) -> None:
        super().__init__()
        h, w = latent_hw(in_shape)
        self.conv = Encoder(in_shape, widths, blocks, feat_ch, gaussian=False)
        self.head = nn.Linear(feat_ch * h * w + n_features, 2 * z_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = F.silu(self.conv.features(x)).flatten(1)
        mu, logvar = self.head(torch.cat([f, cond.to(f.dtype)], 1)).chunk(2, dim=1)
        return mu[..., None, None], logvar.clamp(-30.0, 20.0)[..., None, None]


class CondDecoder(nn.Module):
    """``(z, c)`` -> log1p image for a vector latent ``z`` ``(B, z_dim, 1, 1)`` and scaled particle
    features ``c`` ``(B, 9)``: an MLP ``[z, c] -> hidden -> (widths[1], h, w)`` places the shower on the
    1/4-resolution grid (where the particle points comes from ``c``, the fluctuations from ``z``), then
    the convolutional :class:`Decoder` stages. Cost per sample ~ ``hidden * widths[1] * h * w`` MACs for
    the MLP plus the conv stages (cheap at 1/4 and 1/2 resolution)."""

    def __init__(self, out_shape: tuple[int, int], widths=(8, 16), blocks=(0, 1), z_dim: int = 32,
                 hidden: int = 128, n_features: int = 9, refine: nn.Module | None = None) -> None:
        super().__init__()
        self.hw = latent_hw(out_shape)
        c2 = widths[1]
        self.mlp = nn.Sequential(nn.Linear(z_dim + n_features, hidden), nn.SiLU(), nn.Linear(hidden, c2 * self.hw[0] * self.hw[1]))
        self.conv = Decoder(out_shape, widths, blocks, c2)
        self.refine = refine
        """optional ``refine(image, cond, hidden)`` (:class:`fastzdc.nn.refine.ImpactRefine`), fed the MLP's hidden layer"""

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        hidden = self.mlp[1](self.mlp[0](torch.cat([z.flatten(1), cond.to(z.dtype)], 1)))
        x = self.conv(F.silu(self.mlp[2](hidden).reshape(z.shape[0], -1, *self.hw)))
        return x if self.refine is None else self.refine(x, cond, hidden)


class VAE(nn.Module):
    """Encoder + decoder; ``forward(x, c)`` reconstructs from the posterior mean.

    ``z_dim = 0``: a latent map ``(z_ch, h, w)``, unconditional encoder and decoder (``c`` is ignored).
    ``z_dim > 0``: a conditional VAE with a ``z_dim`` vector latent (:class:`VectorEncoder`,
    :class:`CondDecoder`): the decoder knows the particle, the latent holds the shower's fluctuation.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        enc_widths=(8, 16, 32),
        enc_blocks=(1, 1),
        dec_widths=(16, 32),
        dec_blocks=(1, 1),
        z_ch: int = 4,
        z_dim: int = 0,
        dec_hidden: int = 128,
        dec_cond_hidden: int = 0,
        refine: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conditional = z_dim > 0
        if refine is not None and not self.conditional:
            raise ValueError("bumps at the impact point need the conditional decoder (z_dim > 0)")
        if self.conditional:
            self.encoder = VectorEncoder(shape, tuple(enc_widths), tuple(enc_blocks), z_dim)
            self.decoder = CondDecoder(shape, tuple(dec_widths), tuple(dec_blocks), z_dim, dec_hidden, refine=refine)
        else:
            self.encoder = Encoder(shape, tuple(enc_widths), tuple(enc_blocks), z_ch)
            self.decoder = Decoder(shape, tuple(dec_widths), tuple(dec_blocks), z_ch, dec_cond_hidden)

    def encode(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x, cond) if self.conditional else self.encoder(x)

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, cond)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, cond)[0], cond)
