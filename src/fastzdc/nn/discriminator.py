"""A small patch discriminator, its hinge losses, and perceptual features taken from it; a conditional
critic of shower features.

No pretrained network (VGG/LPIPS) can be downloaded here, so the perceptual term of the autoencoders
uses the discriminator's own intermediate activations (feature matching, LPIPS-style):

    P(x, r) = sum_l mean_{b,h,w} || f_l(x)/|f_l(x)| - f_l(r)/|f_l(r)| ||^2        (unit-normalised
                                                                                channel vectors)

Hinge losses (Lim & Ye 2017; the published VAE/VQ-GAN): critic ``L_D = mean relu(1 - D(x)) +
mean relu(1 + D(r))``; generator ``L_G = -mean D(r)``. ``D`` returns one logit per patch at 1/4
resolution (ZN 11x11, ZP 14x8).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """``(B, 1, H, W)`` log1p images -> patch logits ``(B, 1, ceil(H/4), ceil(W/4))`` and features.

    Layers: two 3x3 stride-2 convs (to 1/2, then 1/4 resolution), a 3x3 conv at 1/4, a 3x3 logit conv;
    leaky ReLU(0.2) after each hidden conv. Nothing runs at full resolution (training cost: the critic
    sees 4 batches per step). The input is zero-padded to a multiple of 4 (ZP 56x30 -> 56x32).
    """

    def __init__(self, in_shape: tuple[int, int], widths: tuple[int, int, int] = (8, 16, 32)) -> None:
        super().__init__()
        h, w = in_shape
        self.pad_h, self.pad_w = (-h) % 4, (-w) % 4
        c0, c1, c2 = widths
        self.convs = nn.ModuleList(
            [nn.Conv2d(1, c0, 3, stride=2, padding=1), nn.Conv2d(c0, c1, 3, stride=2, padding=1), nn.Conv2d(c1, c2, 3, padding=1)]
        )
        self.logits = nn.Conv2d(c2, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        ph, pw = self.pad_h, self.pad_w
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            feats.append(x)
        return self.logits(x), feats


class FeatureCritic(nn.Module):
    """``(B, F)`` shower features and ``(B, C)`` scaled particle features -> ``(B, 1)`` logits: a conditional
    critic of a response's summary, not of its pixels (an MLP, two hidden layers, leaky ReLU(0.2)). It
    judges whether the features are those of a simulated response *of this particle*."""

    def __init__(self, n_features: int, n_cond: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features + n_cond, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, cond], 1))


def hinge_critic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def perceptual_distance(real: list[torch.Tensor], fake: list[torch.Tensor], eps: float = 1e-6) -> torch.Tensor:
    """LPIPS-style distance of two feature lists (unit-normalised channel vectors, no learned weights)."""
    total = real[0].new_zeros(())
    for fr, ff in zip(real, fake):
        fr = fr / (fr.norm(dim=1, keepdim=True) + eps)
        ff = ff / (ff.norm(dim=1, keepdim=True) + eps)
        total = total + (fr - ff).pow(2).sum(1).mean()
    return total


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` without recording gradients for its parameters (gradients still flow to inputs).

    Used for the generator's adversarial and perceptual terms: the critic is a fixed function there,
    so one backward pass of the summed loss trains both players without mixing their gradients.
    """
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)
