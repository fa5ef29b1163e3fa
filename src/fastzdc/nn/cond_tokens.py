"""Particle features as a few discrete tokens: the published VQ-GAN prior's way of conditioning.

A small VQ-VAE of the 9 scaled features: an MLP encoder gives ``n_tokens`` vectors of ``code_dim``
numbers, each quantised against one shared cosine codebook (:class:`~fastzdc.nn.quantize.VectorQuantizer`,
EMA updates, dead-code revival), and an MLP decoder maps the quantised vectors back to the features:

    z = E(c) in R^{n_tokens x D},   q_j = Q(z_j),   c^ = Dec(q),
    L = |c^ - c|^2 + beta |z^ - sg(q)|^2                                   (beta = 0.25)

After :meth:`FeatureTokenizer.fit` the tokenizer is frozen; :class:`TokenPrefix` turns a particle into the
GPT's prefix ``emb(k_j) + pos_j`` (a learned embedding of each token id plus a learned position vector).
The prefix sees the particle only through ``K^n_tokens`` cells, where a continuous prefix MLP
(:class:`~fastzdc.nn.mlp.ConditionalMean`) sees it exactly: the tokenised prefix is kept for the
comparison of the two prefixes (docs/models.md, "VQ-GAN").

>>> tok = FeatureTokenizer(n_tokens=2, n_codes=16, code_dim=4, hidden=32)
>>> report = tok.fit(torch.randn(512, 9), steps=20, batch_size=128, seed=0)
>>> tuple(tok.tokens(torch.randn(3, 9)).shape), sorted(report)
((3, 2), ['mse', 'perplexity', 'usage'])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .quantize import VectorQuantizer

COMMITMENT = 0.25


def _mlp(n_in: int, hidden: int, n_out: int, depth: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.GELU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, n_out))


class FeatureTokenizer(nn.Module):
    """``(B, n_features)`` scaled features -> ``(B, n_tokens)`` token ids (a VQ-VAE of the features)."""

    def __init__(self, n_features: int = 9, n_tokens: int = 2, n_codes: int = 512, code_dim: int = 8, hidden: int = 128) -> None:
        super().__init__()
        if n_tokens < 1:
            raise ValueError(f"need n_tokens >= 1, got {n_tokens}")
        self.n_tokens, self.code_dim = int(n_tokens), int(code_dim)
        self.encoder = _mlp(n_features, hidden, n_tokens * code_dim)
        self.quantizer = VectorQuantizer(n_codes, code_dim)
        self.decoder = _mlp(n_tokens * code_dim, hidden, n_features)

    def _encode(self, cond: torch.Tensor) -> torch.Tensor:
        """Encodings as a ``(B, D, 1, n_tokens)`` map (the quantiser's layout)."""
        return self.encoder(cond).reshape(cond.shape[0], self.n_tokens, self.code_dim).transpose(1, 2)[:, :, None]

    def _decode(self, q: torch.Tensor) -> torch.Tensor:
        """Quantised ``(B, D, 1, n_tokens)`` map -> features ``(B, n_features)``."""
        return self.decoder(q[:, :, 0].transpose(1, 2).reshape(q.shape[0], -1))

    @torch.no_grad()
    def tokens(self, cond: torch.Tensor) -> torch.Tensor:
        """Token ids ``(B, n_tokens)`` (the codebook is not updated)."""
        with torch.autocast(cond.device.type, enabled=False):
            return self.quantizer.indices(self._encode(cond.float()))[:, 0]

    @torch.no_grad()
    def reconstruct(self, cond: torch.Tensor) -> torch.Tensor:
        """Features decoded from their tokens: what the tokens keep of the particle."""
        return self._decode(self.quantizer.lookup(self.tokens(cond)[:, None]))

    def fit(self, cond: torch.Tensor, steps: int = 3000, batch_size: int = 1024, lr: float = 2e-3, seed: int = 0) -> dict[str, float]:
        """Train on scaled features ``(N, n_features)`` (Adam, cosine decay, seeded: the same features
        give the same tokenizer), then freeze. Returns the features' reconstruction MSE through the
        tokens and the codebook's usage and perplexity over the last quarter of the steps."""
        cond = cond.float()
        gen = torch.Generator(device="cpu").manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder.apply(_reset)
            self.decoder.apply(_reset)
            init = F.normalize(torch.randn_like(self.quantizer.codebook), dim=1)
        self.quantizer.codebook.copy_(init)
        self.quantizer.ema_sum.copy_(init)
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        self.train()
        self.quantizer.ema_count.zero_()  # the first batch initialises the codebook from encodings
        with torch.enable_grad():
            for step in range(steps):
                if step == (3 * steps) // 4:
                    self.quantizer.usage_stats(reset=True)
                idx = torch.randint(len(cond), (min(batch_size, len(cond)),), generator=gen)
                c = cond[idx]
                q, _, commit = self.quantizer(self._encode(c), gen)
                rec = self._decode(q)
                loss = F.mse_loss(rec, c) + COMMITMENT * commit
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        self.eval().requires_grad_(False)
        stats = self.quantizer.usage_stats(reset=True)
        mse = float(F.mse_loss(self.reconstruct(cond), cond))
        return {"mse": mse, **stats}


def _reset(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        m.reset_parameters()


class TokenPrefix(nn.Module):
    """GPT prefix from tokenised features: ``(B, 9)`` scaled -> ``(B, n_tokens, d_model)``,
    ``emb(k_j) + pos_j`` (the tokenizer is frozen; the embeddings are trained with the GPT)."""

    def __init__(self, d_model: int, n_tokens: int = 2, n_codes: int = 512, code_dim: int = 8, hidden: int = 128, n_features: int = 9) -> None:
        super().__init__()
        self.tokenizer = FeatureTokenizer(n_features, n_tokens, n_codes, code_dim, hidden).requires_grad_(False).eval()
        self.emb = nn.Embedding(n_codes, d_model)
        self.pos = nn.Parameter(torch.zeros(n_tokens, d_model))
        nn.init.normal_(self.emb.weight, std=0.02)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        return self.emb(self.tokenizer.tokens(cond)) + self.pos
