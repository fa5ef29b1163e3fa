"""The transformer prior of the VQ-GAN: an autoregressive model of a frozen VQ autoencoder's token grid
given the particle, then the VQ decoder.

Training (second stage, on a trained ``vq`` checkpoint given as ``model.vq``): the training split is
tokenised once by the frozen VQ autoencoder (raster order over the ZN 11x11 / ZP 14x8 grid, ``T``
tokens); the loss is the cross-entropy of the next token

    L = -1/T sum_i log p(t_i | c, t_<i),        p from the GPT (:mod:`fastzdc.nn.gpt`)

conditioned on ``n_prefix`` continuous prefix vectors ``P(c)`` (an MLP of the 9 scaled features). The
published prior tokenises the features with a separate VQ-VAE into 2 tokens: ``cond_tokens = 2`` does
that (:mod:`fastzdc.nn.cond_tokens`; the tokenizer is fitted on the training conditions before the GPT
and stored in the checkpoint). The continuous prefix is the default: docs/models.md ("VQ-GAN") has the comparison.

Sampling is a function of the conditions and the noise only. The noise of one sample is
``(2, h, w)`` standard normals: channel 0 gives the uniforms ``u_i = Phi(n_i)`` that draw token i by
inverse CDF from the filtered distribution (temperature, top-k, top-p:
:mod:`fastzdc.sampling.categorical`), channel 1 the dither of the decoded counts:

    t_i = F^-1(u_i; filter(p(. | c, t_<i))),   x = max(D(e_t), 0),   counts = floor(exp(x) - 1 + u'(n))

The checkpoint is self-contained: its weights hold the GPT, the prefix MLP, the VQ decoder and the
codebook; its hparams hold the VQ autoencoder's hyper-parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FastZDCError
from ..nn.cond_tokens import TokenPrefix
from ..nn.gpt import GPT
from ..nn.mlp import ConditionalMean
from ..nn.token_prior import TokenPrior
from ..sampling.categorical import check_options, filtered_probs, inverse_cdf, normal_to_uniform
from ..sampling.noise import TrainingRows
from ..sampling.poisson import counts_log1p
from .base import FirstStage, ModelKind, register
from .vq import VQKind


@register
class VQPrior(ModelKind):
    kind = "vq-prior"
    defaults = {  # noqa: RUF012  (read-only class data, as in every model kind)
        "vq": "",
        "vq_hparams": {},
        "vq_weights_sha256": "",
        "d_model": 96,
        "n_layers": 3,
        "n_heads": 4,
        "n_kv_heads": 1,
        "d_ff": 256,
        "dropout": 0.0,
        "n_prefix": 2,
        "cond_hidden": 128,
        "cond_depth": 2,
        "cond_tokens": 0,
        "cond_codes": 512,
        "cond_code_dim": 8,
        "tokenizer_steps": 3000,
    }
    sampler_defaults = {"temperature": 1.1, "top_k": 32, "top_p": 1.0, "dither": True, "poisson": False}  # noqa: RUF012
    """from the sweep of benchmarks/bench_vq.py (docs/models.md, "VQ-GAN")"""
    first_stage = FirstStage(option="vq", kind="vq", label="VQ autoencoder", sha="vq_weights_sha256", hparams="vq_hparams")
    quick_export = False  # the T decoding steps unroll into the graph: exporting takes minutes (no graph optimiser)

    def __init__(self, detector, hparams: dict[str, Any] | None = None) -> None:
        super().__init__(detector, hparams)
        self.vq_kind = VQKind(detector, self.hparams["vq_hparams"])

    # ------------------------------------------------------------------ network
    def n_tokens(self) -> int:
        h, w = self.vq_kind.grid_shape()
        return h * w

    def tokenised_prefix(self) -> bool:
        """True when the particle enters as ``cond_tokens`` tokens of a feature VQ-VAE
        (:mod:`fastzdc.nn.cond_tokens`), False for the continuous prefix MLP."""
        return int(self.hparams["cond_tokens"]) > 0

    def n_prefix(self) -> int:
        return int(self.hparams["cond_tokens"]) if self.tokenised_prefix() else int(self.hparams["n_prefix"])

    def noise_shape(self) -> tuple[int, ...]:
        return (2, *self.vq_kind.grid_shape())

    def build(self) -> TokenPrior:
        h, vh = self.hparams, self.vq_kind.hparams
        d, n_codes = int(h["d_model"]), int(vh["n_codes"])
        gpt = GPT(n_codes, self.n_prefix(), self.n_tokens(), d, int(h["n_layers"]), int(h["n_heads"]),
                  int(h["n_kv_heads"]), int(h["d_ff"]), float(h["dropout"]))
        if self.tokenised_prefix():
            prefix: nn.Module = TokenPrefix(d, int(h["cond_tokens"]), int(h["cond_codes"]), int(h["cond_code_dim"]), int(h["cond_hidden"]))
        else:
            prefix = ConditionalMean((int(h["n_prefix"]), d), int(h["cond_hidden"]), int(h["cond_depth"]))
        decoder = self.vq_kind.build().decoder
        return TokenPrior(gpt, prefix, decoder, n_codes, int(vh["code_dim"]), self.vq_kind.grid_shape(), self.detector.shape)

    # ------------------------------------------------------------------ training
    def first_stage_network(self) -> nn.Module:
        return self.vq_kind.build()

    @torch.no_grad()
    def training_inputs(self, net: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
                        first_stage: nn.Module | None = None, rows: TrainingRows | None = None) -> torch.Tensor:
        """Tokenise the training split with the frozen VQ autoencoder: ``(n, T)`` int16, raster order.
        Also copies the VQ decoder and codebook into ``net``, and with a tokenised prefix fits the
        feature tokenizer on the split's conditions (seeded; its scores go to :attr:`inputs_report`)."""
        if first_stage is None:
            raise FastZDCError("vq-prior trains on the tokens of its VQ autoencoder: the training set-up passes it")
        vq = first_stage
        net.decoder.load_state_dict(vq.decoder.state_dict())
        net.codebook.copy_(vq.quantizer.codebook)
        parts, conds = [], []
        for x, c in batches:
            vq.to(x.device)
            parts.append(vq.tokens(x).reshape(x.shape[0], -1).to(torch.int16))
            conds.append(c.cpu())
        if self.tokenised_prefix():
            tok = net.prefix.tokenizer
            stats = tok.cpu().fit(torch.cat(conds), steps=int(self.hparams["tokenizer_steps"]))
            tok.to(parts[0].device)
            self.inputs_report = {f"tokenizer_{k}": v for k, v in stats.items()}
        return torch.cat(parts)

    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        tokens = x.long()
        logits = net.gpt(net.prefix(cond), tokens)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1))

    # ------------------------------------------------------------------ sampling
    def sampler_options(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = super().sampler_options(overrides)
        check_options(opts["temperature"], opts["top_k"], opts["top_p"])
        return opts

    @staticmethod
    def draw_tokens(net: nn.Module, cond: torch.Tensor, token_noise: torch.Tensor, temperature: float, top_k: int,
                    top_p: float) -> torch.Tensor:
        """Token grids ``(B, T)`` in raster order drawn by the prior of ``net`` for scaled conditions ``cond``:
        token ``i`` by inverse CDF of ``Phi(token_noise[:, i])`` in the filtered distribution."""
        u = normal_to_uniform(token_noise.reshape(token_noise.shape[0], -1))

        def pick(logits: torch.Tensor, i: int) -> torch.Tensor:
            return inverse_cdf(filtered_probs(logits, temperature, top_k, top_p), u[:, i])

        return net.gpt.generate(net.prefix(cond), pick)

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        opts = self.sampler_options(options)
        tokens = self.draw_tokens(net, cond, noise[:, 0], float(opts["temperature"]), int(opts["top_k"]), float(opts["top_p"]))
        x = net.decode(tokens, cond)
        return counts_log1p(x, net.dither(noise[:, 1:]), poisson=bool(opts["poisson"])) if opts["dither"] else x
