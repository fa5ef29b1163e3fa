"""Latent flow matching: rectified flow on the latents of a frozen VAE, then the VAE decoder.

Training (second stage, on a trained ``vae`` checkpoint given as ``model.vae``): the training split is
encoded once, ``q(z|x) = N(mu, sigma^2)``; each step draws ``z = mu + sigma * eps`` (or ``z = mu`` with
``posterior_sample = false``), standardises it per channel, ``z' = (z - m) / s`` with ``m, s`` the
training-split mean and standard deviation of ``z``, and applies the flow-matching loss of
:class:`~fastzdc.models.fm.FlowMatching` to ``z'``:

    L = E || v(z'_t, c, t) - (z' - n) ||^2,   z'_t = (1 - t) n + t z',   n ~ N(0, I)

With ``mean_hidden > 0`` (default) an MLP ``m(c)`` regresses the standardised latent on the conditions
(``|| m(c) - z' ||^2``, computed once per sample) and the flow models the residual ``r = z' - sg(m(c))``
with ``m(c)`` as extra input maps: the mean places the shower where the particle points (a flow on
its own learns that placement slowly), the flow adds the fluctuations around it, and its paths start
much closer to their targets. ``z' = m(c) + r``. With ``mean_residual = false`` the flow models ``z'``
itself and ``m(c)`` only enters as input maps (positional conditioning for convolutional flows).

With ``w_energy > 0`` the loss adds ``w_energy * ES``: the energy score (:mod:`fastzdc.models.scoring`) of
two samples of the row's particle, solved through ``energy_steps`` steps of ``energy_method`` and decoded
to mean light, their channel sums drawn Poisson around it, against the response's channel sums (stored
beside the latents). The flow-matching term keeps the latent law; the score corrects what the sampler
gets wrong in the quantities W measures (fine-tuning with ``--init`` from a trained flow).

Sampling (one pure tensor function of conditions and noise, exportable as one graph):

    z' = ODE(v, n; steps, method),   c = exp(max(D(s z' + m), 0)) - 1,   counts = floor(c + u(n))

On a conditional VAE (``z_dim > 0``, :mod:`fastzdc.models.vae`) the latent is a ``z_dim`` vector, the
flow is the MLP, the decoder is ``D(z, particle)``, and the sampler's noise is a ``(2, h, w)`` grid:
channel 0 starts the flow (its first ``z_dim`` values), channel 1 drives the dither.

(``u(n)``: uniforms derived from the same noise, :mod:`fastzdc.nn.dither`; stochastic rounding is
unbiased where plain rounding drops every fibre below half a photon; ``dither = false`` rounds. With
``poisson = true`` the same uniforms draw Poisson counts of mean ``c`` instead,
:mod:`fastzdc.sampling.poisson`: the photo-statistics the Poisson-trained decoder's mean stands for.)
The result is returned as a log1p image ``(B, 1, nx, ny)``.

The checkpoint is self-contained: its weights hold the flow, the decoder and ``m, s``; its hparams hold
the VAE's hyper-parameters, so loading it never needs the VAE checkpoint again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..detector import N_CHANNELS
from ..errors import FastZDCError
from ..nn.autoencoder import VAE, latent_hw
from ..nn.latent_conv import LatentConvNet
from ..nn.latent_flow import ContextUNet, LatentFlow
from ..nn.mlp import ConditionalMean, LatentMLP
from ..nn.unet import CondUNet
from ..sampling.noise import TrainingRows
from ..sampling.ode import METHODS, integrate
from ..sampling.poisson import counts_log1p
from .base import FirstStage, register
from .fm import FlowMatching
from .scoring import SCALES, check_options, drawn_sum_features, energy_score
from .vae import VariationalAutoencoder

T_EPS = 0.05
"""x-prediction: ``1 - t`` is clamped here in the velocity ``(x1_hat - x_t) / (1 - t)``."""


@register
class LatentFlowMatching(FlowMatching):
    kind = "latent-fm"
    defaults = {
        "vae": "",
        "vae_hparams": {},
        "vae_weights_sha256": "",
        "net": "mlp",
        "hidden": 512,
        "depth": 3,
        "emb_dim": 64,
        "widths": [32, 48, 64],
        "blocks": [1, 1, 1],
        "mean_hidden": 512,
        "mean_depth": 2,
        "mean_residual": True,
        "predict": "v",
        "posterior_sample": True,
        "time_sampling": "logit-normal",
        "logit_mean": 0.0,
        "logit_std": 1.0,
        "w_energy": 0.0,
        "energy_scale": "log",
        "energy_steps": 8,
        "energy_method": "midpoint",
    }
    sampler_defaults = {"steps": 8, "method": "euler", "shift": 1.0, "dither": True, "poisson": False}
    first_stage = FirstStage(option="vae", kind="vae", label="VAE", sha="vae_weights_sha256", hparams="vae_hparams")

    def __init__(self, detector, hparams: dict[str, Any] | None = None) -> None:
        super().__init__(detector, hparams)
        if self.hparams["predict"] not in ("v", "x1"):
            raise FastZDCError(f"latent-fm predict must be 'v' or 'x1', got {self.hparams['predict']!r}")
        if self.hparams["net"] not in ("mlp", "conv", "unet"):
            raise FastZDCError(f"latent-fm net must be 'mlp', 'conv' or 'unet', got {self.hparams['net']!r}")
        self.vae_kind = VariationalAutoencoder(detector, self.hparams["vae_hparams"])
        if self.vae_kind.conditional:
            h, w = latent_hw(detector.shape)
            if self.latent_shape()[0] > h * w:
                raise FastZDCError(f"latent-fm on a conditional VAE needs z_dim <= {h * w} for {detector.name.upper()}, "
                                   f"the VAE has z_dim {self.latent_shape()[0]}")
            if self.hparams["net"] != "mlp":
                raise FastZDCError(f"a conditional VAE has a vector latent: latent-fm net must be 'mlp', got {self.hparams['net']!r}")
        h = self.hparams
        check_options(self.kind, h["w_energy"], h["energy_scale"])
        if isinstance(h["energy_steps"], bool) or not isinstance(h["energy_steps"], int) or h["energy_steps"] < 1:
            raise FastZDCError(f"latent-fm energy_steps must be a positive integer, got {h['energy_steps']!r}")
        if h["energy_method"] not in METHODS:
            raise FastZDCError(f"latent-fm energy_method must be one of {', '.join(METHODS)}, got {h['energy_method']!r}")

    # ------------------------------------------------------------------ network
    def first_stage_network(self) -> VAE:
        return self.vae_kind.build()

    def latent_shape(self) -> tuple[int, int, int]:
        return self.vae_kind.latent_shape()

    def noise_shape(self) -> tuple[int, ...]:
        """The latent map's shape; for a vector latent ``(2, h, w)`` (1/4-resolution grid): channel 0
        holds the latent noise (its first ``z_dim`` values), channel 1 drives the dither."""
        if self.vae_kind.conditional:
            return (2, *latent_hw(self.detector.shape))
        return self.latent_shape()

    def _split_noise(self, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampler noise -> (the flow's starting latent, the dither's noise)."""
        if not self.vae_kind.conditional:
            return noise, noise
        z_dim = self.latent_shape()[0]
        return noise[:, 0].flatten(1)[:, :z_dim].reshape(noise.shape[0], z_dim, 1, 1), noise[:, 1:]

    def build(self) -> nn.Module:
        h = self.hparams
        shape = self.latent_shape()
        ctx = shape[0] if h["mean_hidden"] else 0
        if h["net"] == "mlp":
            flow: nn.Module = LatentMLP(shape, hidden=int(h["hidden"]), depth=int(h["depth"]), emb_dim=int(h["emb_dim"]), ctx_ch=ctx)
        elif h["net"] == "conv":
            flow = LatentConvNet(shape, width=int(h["hidden"]), depth=int(h["depth"]), emb_dim=int(h["emb_dim"]), ctx_ch=ctx)
        else:
            unet = CondUNet(shape[1:], widths=tuple(h["widths"]), blocks=tuple(h["blocks"]), emb_dim=int(h["emb_dim"]), in_ch=shape[0] + ctx)
            flow = ContextUNet(unet, shape[0])
        mean = ConditionalMean(shape, int(h["mean_hidden"]), int(h["mean_depth"])) if h["mean_hidden"] else None
        decoder = self.vae_kind.build().decoder
        return LatentFlow(flow, decoder, shape[0], self.detector.shape, mean, 1 if self.vae_kind.conditional else None)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def training_inputs(self, net: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
                        first_stage: nn.Module | None = None, rows: TrainingRows | None = None) -> torch.Tensor:
        """Encode the training split with the frozen VAE (``first_stage``): ``(n, 2 z_ch, h, w)`` = [mu, log sigma^2].

        Also copies the decoder into ``net`` and sets the latent standardisation ``m, s`` (per channel,
        ``s^2 = var(mu) + mean(sigma^2)``: the spread of the posterior samples the flow learns)."""
        if first_stage is None:
            raise FastZDCError("latent-fm trains on the latents of its VAE: the training set-up passes it")
        vae = first_stage
        net.decoder.load_state_dict(vae.decoder.state_dict())
        parts = []
        for x, c in batches:
            vae.to(x.device)
            mu, logvar = vae.encode(x, c)
            part = [mu, logvar]
            if self.hparams["w_energy"]:  # the response's channel sums ride along as constant maps
                sums = self.detector.channel_sums(torch.expm1(x)[:, 0].float())
                part.append(sums[:, :, None, None].expand(-1, -1, *mu.shape[2:]))
            parts.append(torch.cat(part, 1).float())
        enc = torch.cat(parts)
        mu, logvar = self._latents(enc).chunk(2, 1)
        mean = mu.mean((0, 2, 3))
        var = mu.var((0, 2, 3))
        if self.hparams["posterior_sample"]:
            var = var + logvar.exp().mean((0, 2, 3))
        net.latent_mean.copy_(mean)
        net.latent_std.copy_(var.sqrt().clamp_min(1e-6))
        return enc

    def _latents(self, x: torch.Tensor) -> torch.Tensor:
        """The training inputs without the appended channel sums."""
        return x[:, :-N_CHANNELS] if self.hparams["w_energy"] else x

    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self._flow_loss(net, self._latents(x), cond, gen) + (
            self.hparams["w_energy"] * self._energy(net, x[:, -N_CHANNELS:, 0, 0], cond, gen) if self.hparams["w_energy"] else 0.0)

    def _energy(self, net: nn.Module, sums: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Energy score of two samples' channel sums (mean light, drawn Poisson around it) against the
        response's (:mod:`fastzdc.models.scoring`), through ``energy_steps`` steps of the flow."""
        h = self.hparams
        scale = str(h["energy_scale"])
        feats = []
        for _ in range(2):
            z0 = torch.randn((cond.shape[0], *self.latent_shape()), generator=gen, device=cond.device)
            mean_log = self._mean_image(net, cond, z0, int(h["energy_steps"]), str(h["energy_method"]))
            eps = torch.randn(sums.shape, generator=gen, device=cond.device)
            feats.append(drawn_sum_features(self.detector, mean_log, eps, scale))
        return energy_score(*feats, SCALES[scale](sums))

    def _flow_loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        mu, logvar = x.chunk(2, 1)
        z = mu
        if self.hparams["posterior_sample"]:
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=mu.device)
        z = net.standardize(z)
        if net.mean is None:
            return super().loss(self._velocity(net, None), z, cond, gen)
        m = net.mean(cond)
        m_fixed = m.detach()
        target = z - m_fixed if self.hparams["mean_residual"] else z
        flow_loss = super().loss(self._velocity(net, m_fixed), target, cond, gen)
        return torch.mean((m - z) ** 2) + flow_loss

    def _velocity(self, net: nn.Module, m: torch.Tensor | None):
        """``v(x_t, c, t)``: the flow's output, or with ``predict = "x1"`` the velocity of its clean-sample
        prediction, ``v = (x1_hat - x_t) / max(1 - t, T_EPS)`` (x-prediction: the network outputs points of
        the low-dimensional data manifold instead of noise-like velocities; Li & He 2025)."""
        if self.hparams["predict"] == "v":
            return lambda x, c, t: net.flow(x, c, t, m)

        def v(x, c, t):
            return (net.flow(x, c, t, m) - x) / (1.0 - t).clamp_min(T_EPS)[:, None, None, None]

        return v

    # ------------------------------------------------------------------ sampling
    def _mean_image(self, net: nn.Module, cond: torch.Tensor, z0: torch.Tensor, steps: int, method: str,
                    shift: float = 1.0) -> torch.Tensor:
        """Flow noise ``z0`` -> the decoder's log1p image (mean light of every fibre), through the ODE."""
        m = None if net.mean is None else net.mean(cond)
        v = self._velocity(net, m)
        z = integrate(lambda r, t: v(r, cond, t).float(), z0, steps, method, shift)
        return net.decode(z + m if m is not None and self.hparams["mean_residual"] else z, cond)

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        opts = self.sampler_options(options)
        z0, dither_noise = self._split_noise(noise)
        x = self._mean_image(net, cond, z0, int(opts["steps"]), str(opts["method"]), float(opts["shift"]))
        return counts_log1p(x, net.dither(dither_noise), poisson=bool(opts["poisson"])) if opts["dither"] else x
