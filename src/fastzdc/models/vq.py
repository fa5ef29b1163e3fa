"""The VQ autoencoder of the VQ-GAN: a convolutional autoencoder whose 1/4-resolution latent grid is
quantised against a learned codebook (ZN 11x11 = 121 tokens, ZP 14x8 = 112 tokens).

    z = E(x) (code_dim channels per cell),   k = argmax_j cos(z, e_j),   r = D(e_k / |e_k|)

The quantiser (:class:`fastzdc.nn.quantize.VectorQuantizer`) is cosine-matched, updated by exponential
moving averages with dead-code revival, and runs in float32. Loss:

    L = L_img(r, x) + commitment * mean |z/|z| - sg(q)|^2

with ``L_img`` the gradient-normalised l2, channel-sum, perceptual and adversarial terms and the critic's
hinge loss shared with the VAE (:mod:`fastzdc.models.ae_losses`); the codebook itself has no loss (EMA).
Codebook usage (fraction of codes used in the epoch) and perplexity are reported by the training loop.

A vq checkpoint reconstructs images (validation W is the reconstruction W); it does not generate from
particles: ``fastzdc train vq-prior --set model.vq=RUN/best`` trains the transformer prior on its tokens.

**Token noise** (``token_noise = p``): during training the decoder sees, at a random fraction ``p`` of
the grid cells, the code of the same cell of another row of the batch (the loss still compares with
the original image). A decoder trained without it reads tokens in tight context: on ZP, decoding the
tokens of real showers with every cell's token taken from a different shower gives 4 photons instead
of 38, so the small incoherences of a prior's samples cost a third of the light. With ``p = 0.15`` (the
configs' value; 0.08 and 0.3 measured worse) the decoder fills in from the neighbours (docs/models.md, "VQ-GAN").

**Decoder tuning** (``tune_decoder = VQ_RUN/best``): start from that trained vq checkpoint and train only
its decoder (and the critic); the encoder and codebook are loaded and frozen, so the tokens are exactly
the source's and a prior trained on either checkpoint works with the new decoder. Usage::

    fastzdc train vq --config configs/vq-dec-zp.toml --data DATA --out runs/vq-dec-zp \
        --set model.tune_decoder=runs/vq-zp/best
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FastZDCError
from ..nn.autoencoder import latent_hw
from ..nn.vq import VQAutoencoder
from ..sampling.noise import TrainingRows
from .ae_losses import AUTOENCODER_DEFAULTS, build_critic, image_loss, round_reconstruction
from .base import FirstStage, ModelKind, register

ARCHITECTURE = ("enc_widths", "enc_blocks", "dec_widths", "dec_blocks", "n_codes", "code_dim", "dec_cond_hidden")
"""hyper-parameters a decoder-tuning run copies from its source checkpoint (the network is the same)"""


@register
class VQKind(ModelKind):
    kind = "vq"
    defaults = {
        **AUTOENCODER_DEFAULTS, "n_codes": 512, "code_dim": 8, "decay": 0.99, "dead_threshold": 1.0, "commitment": 0.25,
        "token_noise": 0.0, "tune_decoder": "", "tune_decoder_weights_sha256": "",
    }
    sampler_defaults: dict[str, Any] = {}
    reconstructs = True
    first_stage = FirstStage(option="tune_decoder", kind="vq", label="VQ autoencoder", sha="tune_decoder_weights_sha256",
                             copy=ARCHITECTURE, optional=True)

    def __init__(self, detector, hparams: dict[str, Any] | None = None) -> None:
        super().__init__(detector, hparams)
        h = self.hparams
        if isinstance(h["token_noise"], bool) or not isinstance(h["token_noise"], (int, float)) or not 0 <= h["token_noise"] < 1:
            raise FastZDCError(f"vq token_noise must be a fraction in [0, 1), got {h['token_noise']!r}")

    def first_stage_network(self) -> nn.Module:
        return self.build()

    def training_inputs(self, net: nn.Module, batches, first_stage: nn.Module | None = None,
                        rows: TrainingRows | None = None) -> None:
        """Decoder tuning: start ``net`` from the source checkpoint (``first_stage``) and freeze its encoder
        (the codebook is an EMA buffer that the frozen encoder no longer moves)."""
        if self.hparams["tune_decoder"]:
            if first_stage is None:
                raise FastZDCError("decoder tuning starts from its source checkpoint: the training set-up passes it")
            net.load_state_dict(first_stage.state_dict())
            net.train()
            net.encoder.requires_grad_(False)
        return None

    def build(self) -> VQAutoencoder:
        h = self.hparams
        return VQAutoencoder(
            self.detector.shape, h["enc_widths"], h["enc_blocks"], h["dec_widths"], h["dec_blocks"],
            int(h["n_codes"]), int(h["code_dim"]), float(h["decay"]), float(h["dead_threshold"]), int(h["dec_cond_hidden"]),
        )

    def build_critic(self) -> nn.Module | None:
        return build_critic(self.detector, self.hparams)

    def grid_shape(self) -> tuple[int, int]:
        """Token grid ``(h, w)``: ZN 11x11, ZP 14x8."""
        return latent_hw(self.detector.shape)

    def loss(
        self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator, critic: nn.Module | None = None
    ) -> torch.Tensor:
        h = self.hparams
        if h["tune_decoder"]:  # frozen encoder and codebook: the source's tokens, no codebook update
            idx = net.tokens(x)
            q, commit = net.quantizer.lookup(idx), None
        else:
            q, idx, commit = net.quantizer(net.encoder.features(x), gen)
        if h["token_noise"]:
            swap = torch.rand(idx.shape, generator=gen, device=idx.device) < h["token_noise"]
            other = torch.randperm(x.shape[0], generator=gen, device=idx.device)
            q = torch.where(swap[:, None], q[other].detach(), q)
        loss = image_loss(self.detector, h, net.decoder(q, cond), x, critic)
        return loss if commit is None else loss + h["commitment"] * commit

    def train_metrics(self, net: nn.Module, reset: bool = False) -> dict[str, float]:
        return net.quantizer.usage_stats(reset)

    def reconstruct(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``D(q(E(x)))`` stochastically rounded to integer counts (fixed-seed uniforms)."""
        return round_reconstruction(net(x, cond))

    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        raise FastZDCError(
            "a vq checkpoint reconstructs images and does not generate from particles; "
            "train the transformer prior on it: fastzdc train vq-prior --set model.vq=<this checkpoint>"
        )
