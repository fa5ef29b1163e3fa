"""Vector quantisation with a cosine codebook, EMA updates and dead-code revival.

Encodings ``z`` (``D`` channels per latent cell) and the ``K`` codes ``e_k`` are compared on the unit
sphere (cosine similarity, the published VQ-GAN's L2-normalised lookup):

    k(z) = argmax_k <z/|z|, e_k/|e_k|>,        q(z) = e_k(z)/|e_k(z)|

Straight-through estimator: the decoder sees ``z^ + sg(q - z^)`` (``z^ = z/|z|``), so its gradient reaches
the encoder as if the quantiser were the identity. Commitment loss ``mean |z^ - sg(q)|^2`` (weighted by
the model) keeps the encodings near their codes. The codebook has no gradient; it follows the
encodings by exponential moving averages over training batches (decay ``gamma``):

    N_k <- gamma N_k + (1 - gamma) n_k,      m_k <- gamma m_k + (1 - gamma) sum_{i: k(z_i) = k} z^_i,
    e_k = m_k / |m_k|

(``n_k``: cells of the batch assigned to code k). Since the lookup is on the sphere, ``m_k / N_k`` and
``m_k`` give the same code, and ``N_k`` only measures use: a code with ``N_k < threshold`` is *dead* and
is revived at an encoding of the batch drawn with probability proportional to its quantisation error
``1 - cos(z, q(z))`` (k-means++-like: new codes go where the codebook serves the data worst; drawn with
the training step's generator, so training resumes exactly), its ``N_k`` set to twice the threshold.
The codebook starts with every ``N_k = 0``: the first training batch initialises all codes from
encodings.

The quantiser always computes in float32, also under bfloat16 autocast (bf16 rounding of unit vectors
in 8 dimensions merges nearby codes; vector-quantize-pytorch#114). At inference it is an argmax and a
row lookup (``Gather`` in ONNX).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

REVIVED_COUNT = 2.0
"""a revived code starts at this multiple of the dead threshold: unused, it is dead again after
``log(2) / (1 - decay)`` steps (69 at decay 0.99) and moves elsewhere"""


class VectorQuantizer(nn.Module):
    """``(B, D, h, w)`` encodings -> (straight-through codes ``(B, D, h, w)``, indices ``(B, h, w)``,
    commitment loss).

    Args:
        n_codes: codebook size ``K``.
        dim: code dimension ``D``.
        decay: EMA decay ``gamma`` of the codebook statistics.
        dead_threshold: a code whose EMA count ``N_k`` (cells per batch) falls below this is revived.
    """

    def __init__(self, n_codes: int = 512, dim: int = 8, decay: float = 0.99, dead_threshold: float = 1.0) -> None:
        super().__init__()
        if n_codes < 2 or dim < 1:
            raise ValueError(f"need n_codes >= 2 and dim >= 1, got {n_codes}, {dim}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.n_codes, self.dim, self.decay, self.dead_threshold = int(n_codes), int(dim), float(decay), float(dead_threshold)
        init = F.normalize(torch.randn(n_codes, dim), dim=1)
        self.register_buffer("codebook", init.clone())
        self.register_buffer("ema_sum", init.clone())
        self.register_buffer("ema_count", torch.zeros(n_codes))
        self.register_buffer("usage", torch.zeros(n_codes, dtype=torch.float64), persistent=False)
        """cells assigned to each code since :meth:`usage_stats` last reset it (training only)"""

    def forward(
        self, z: torch.Tensor, gen: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.autocast(z.device.type, enabled=False):
            b, d, h, w = z.shape
            flat = F.normalize(z.float().permute(0, 2, 3, 1).reshape(-1, d), dim=1)
            idx = self.nearest(flat)
            q = self.codebook[idx]  # a copy: the update below does not change it
            if self.training:
                self._update(flat.detach(), idx, gen)
            commit = F.mse_loss(flat, q.detach())
            st = flat + (q - flat).detach()
            st = st.reshape(b, h, w, d).permute(0, 3, 1, 2)
            return st, idx.reshape(b, h, w), commit

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the most similar code for unit vectors ``(N, D)`` (cosine similarity)."""
        with torch.no_grad():  # an argmax has no gradient; keeps the codebook out of the autograd graph
            return torch.argmax(flat @ self.codebook.t(), dim=1)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Encodings ``(B, D, h, w)`` (any length, any dtype) -> token grid ``(B, h, w)`` (no update)."""
        b, d, h, w = z.shape
        return self.nearest(F.normalize(z.float().permute(0, 2, 3, 1).reshape(-1, d), dim=1)).reshape(b, h, w)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Token grid ``(B, h, w)`` -> unit code vectors ``(B, D, h, w)`` (what the decoder takes)."""
        return self.codebook[idx].permute(0, 3, 1, 2)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor, gen: torch.Generator | None) -> None:
        counts = torch.bincount(idx, minlength=self.n_codes).to(flat.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        self.usage += counts.to(self.usage.dtype)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        dead = self.ema_count < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            # revive at encodings drawn with probability ~ their quantisation error 1 - cos(z, q(z)):
            # where the codebook is poor, not on an encoding a live code already sits on (images are
            # mostly empty: a large share of all cells encode to one identical vector, and a code put
            # there would tie with the live one and never be chosen)
            error = (1.0 - (flat * self.codebook[idx]).sum(1)).clamp_min(0.0) + 1e-12
            replace = int((error > 1e-6).sum()) < n_dead
            pick = torch.multinomial(error.to(gen.device if gen is not None else error.device), n_dead,
                                     replacement=replace, generator=gen).to(flat.device)
            self.ema_count[dead] = REVIVED_COUNT * self.dead_threshold
            self.ema_sum[dead] = flat[pick] * self.ema_count[dead][:, None]
        self.codebook.copy_(F.normalize(self.ema_sum, dim=1))

    @torch.no_grad()
    def usage_stats(self, reset: bool = False) -> dict[str, float]:
        """Codebook use since the last reset: ``usage`` = fraction of codes assigned at least once,
        ``perplexity`` = ``exp(H(p))`` of the assignment frequencies ``p`` (K if all codes are equally
        used, 1 if one code takes everything). Empty before any training batch."""
        total = float(self.usage.sum())
        if total == 0:
            return {}
        p = self.usage / total
        entropy = -float(torch.sum(p[p > 0] * torch.log(p[p > 0])))
        stats = {"usage": float((self.usage > 0).double().mean()), "perplexity": math.exp(entropy)}
        if reset:
            self.usage.zero_()
        return stats
