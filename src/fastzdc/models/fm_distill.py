"""Few-step flow matching by trajectory distillation of a trained ``fm`` checkpoint (the teacher).

The teacher's ODE maps each noise image ``n`` to a sample ``x_T(n, c) = ODE_T(n; c)`` (``teacher_steps``
steps of ``teacher_method``, unclamped log1p units). The student is the same UNet, started from the
teacher's weights, and is trained so that its own short solve lands on the same point:

    L = mean || ODE_S(n; c, steps, method) - x_T(n, c) ||^2  +  w_sum * mean |log1p S(x_S) - log1p S(x_T)|
                                                             +  w_energy * ES(x_S(n), x_S(n'); y)
                                                             -  w_adv * mean D(f(x_S), c)

with the gradient taken through every step of the student's solver; ``S`` are the detector's 5 channel
sums of the clamped images (the quantities the published W measures: the per-pixel error is small where
it matters least, on the many empty fibres, so the sums get a term of their own). The map ``n -> x_T`` is a
deterministic function, so the regression has no blur; what the student learns is to cut the corners
of the teacher's curved paths, so its few steps reach where the teacher's many steps go.

The optional third term (``w_energy``, default off) looks past the teacher at the data: ``ES`` is the
energy score (:mod:`fastzdc.models.scoring`) of two student samples of the row's particle, one from the
fixed noise ``n`` and one from fresh noise ``n'``, against the row's simulated response ``y``, on the 5
channel sums (``energy_scale``: log or square root; ``energy_lit`` adds the lit-fibre count). It is a proper scoring rule for the conditional law of the sums, so it can correct
what the teacher got wrong, while the regression keeps the student's showers the teacher's.

The optional fourth term (``w_adv``, default off) is adversarial: a small conditional critic
(:class:`~fastzdc.nn.discriminator.FeatureCritic`, ``critic_hidden`` units) sees the 12 high-level features
of the evaluation (:func:`~fastzdc.models.scoring.shower_features`: channel sums, total, centroid, width,
lit fibres, brightest fibre) with the particle's features, and learns to tell the row's simulated
response from the student's sample (hinge loss, its own optimiser at ``critic_lr``); the student adds
``w_adv * (-D(f(x_S), c))``. It aims at what the classifier test measures: the joint law of the features
given the particle.

Training (second stage, ``model.teacher = RUN/best`` of ``fastzdc train fm``): once, before the first
step, a fixed noise image is drawn for every training row (``noise_seed``) and the teacher integrates
it; the loop then draws ``[n, x_T]`` pairs with the rows' conditions. The teacher costs
``2 teacher_steps`` network evaluations per row: use ``max_train_rows`` to bound it on a CPU.

The student samples with the plain flow-matching sampler (:class:`~fastzdc.models.fm.FlowMatching`),
its default ``steps`` / ``method`` being the ones it was trained for. Its checkpoint is self-contained:
the architecture is the teacher's, recorded in ``hparams`` with the teacher's weight hash.

Usage::

    fastzdc train fm-distill --config configs/fm-distill-zp.toml --data data/standin_zp.h5 \\
        --out runs/fmd-zp --set model.teacher=weights/fm-zp
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..conditions import N_FEATURES
from ..errors import FastZDCError
from ..nn.discriminator import FeatureCritic, frozen, hinge_critic_loss, hinge_generator_loss
from ..sampling.noise import SplitNoise, TrainingRows
from ..sampling.ode import METHODS, integrate
from .ae_losses import channel_sum_loss
from .base import FirstStage, register
from .fm import FlowMatching
from .scoring import SHOWER_FEATURES, channel_sum_features, check_options, energy_score, lit_fibres, shower_features

ARCHITECTURE = tuple(FlowMatching.defaults)
"""hyper-parameters copied from the teacher (the student is the same network)"""


@register
class DistilledFlowMatching(FlowMatching):
    kind = "fm-distill"
    defaults = {
        **FlowMatching.defaults,
        "teacher": "",
        "teacher_weights_sha256": "",
        "teacher_steps": 8,
        "teacher_method": "midpoint",
        "steps": 3,
        "method": "midpoint",
        "noise_seed": 0,
        "w_sum": 0.0,
        "w_energy": 0.0,
        "energy_lit": False,
        "energy_scale": "log",
        "w_adv": 0.0,
        "critic_hidden": 64,
    }
    first_stage = FirstStage(option="teacher", kind="fm", label="FM teacher", sha="teacher_weights_sha256", copy=ARCHITECTURE)

    def __init__(self, detector, hparams: dict[str, Any] | None = None) -> None:
        super().__init__(detector, hparams)
        h = self.hparams
        for key in ("method", "teacher_method"):
            if h[key] not in METHODS:
                raise FastZDCError(f"fm-distill {key} must be one of {', '.join(METHODS)}, got {h[key]!r}")
        for key in ("steps", "teacher_steps"):
            if isinstance(h[key], bool) or not isinstance(h[key], int) or h[key] < 1:
                raise FastZDCError(f"fm-distill {key} must be a positive integer, got {h[key]!r}")
        if isinstance(h["w_sum"], bool) or not isinstance(h["w_sum"], (int, float)) or not h["w_sum"] >= 0:
            raise FastZDCError(f"fm-distill w_sum must be a number >= 0, got {h['w_sum']!r}")
        check_options(self.kind, h["w_energy"], h["energy_scale"])
        if not isinstance(h["energy_lit"], bool):
            raise FastZDCError(f"fm-distill energy_lit must be true or false, got {h['energy_lit']!r}")
        if isinstance(h["w_adv"], bool) or not isinstance(h["w_adv"], (int, float)) or not h["w_adv"] >= 0:
            raise FastZDCError(f"fm-distill w_adv must be a number >= 0, got {h['w_adv']!r}")
        if isinstance(h["critic_hidden"], bool) or not isinstance(h["critic_hidden"], int) or h["critic_hidden"] < 1:
            raise FastZDCError(f"fm-distill critic_hidden must be a positive integer, got {h['critic_hidden']!r}")
        # the sampler the student was trained for (instance attribute: the class default is shared)
        self.sampler_defaults = {**FlowMatching.sampler_defaults, "steps": h["steps"], "method": h["method"]}

    def first_stage_network(self) -> nn.Module:
        return FlowMatching(self.detector, {k: self.hparams[k] for k in ARCHITECTURE}).build()

    def build_critic(self) -> nn.Module | None:
        """With ``w_adv > 0``: the conditional critic of the student's shower features."""
        if not self.hparams["w_adv"]:
            return None
        return FeatureCritic(SHOWER_FEATURES, N_FEATURES, int(self.hparams["critic_hidden"]))

    def start_weights(self, net: nn.Module, first_stage: nn.Module | None) -> None:
        """A fresh student starts as its teacher (``--init`` starts it from another student instead)."""
        if first_stage is None:
            raise FastZDCError("fm-distill learns from its teacher: the training set-up passes it")
        net.load_state_dict(first_stage.state_dict())

    @torch.no_grad()
    def training_inputs(self, net: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
                        first_stage: nn.Module | None = None, rows: TrainingRows | None = None) -> torch.Tensor:
        """``(n, 2, H, W)``: a fixed noise image per training row (seeded by ``noise_seed``, the same for a
        row on any number of processes) and the teacher's (``first_stage``) sample from it; ``(n, 3, H, W)``
        with the row's own log1p response appended when ``w_energy > 0``."""
        h = self.hparams
        if first_stage is None:
            raise FastZDCError("fm-distill learns from its teacher: the training set-up passes it")
        teacher = first_stage
        noise = SplitNoise(int(h["noise_seed"]), self.noise_shape(), rows=rows)
        parts = []
        for y, c in batches:
            teacher.to(c.device)
            z = noise.take(c.shape[0]).to(c.device)
            x = integrate(lambda x, t: teacher(x, c, t).float(), z, int(h["teacher_steps"]), str(h["teacher_method"]))
            parts.append(torch.cat([z, x, y.float()] if self._needs_response else [z, x], 1).cpu())
        return torch.cat(parts)

    _gap: tuple[torch.Tensor, int] | None = None
    """running sum and count of the critic's mean logit gap, real minus student, over the epoch"""

    def train_metrics(self, net: nn.Module, reset: bool = False) -> dict[str, float]:
        """With the critic: ``critic_gap``, its mean logit on the responses minus that on the student's samples
        over this process's rows (0: it cannot tell them apart; its hinge loss, which the training loss
        shown includes, is then 2)."""
        if not self._gap:
            return {}
        out = {"critic_gap": float(self._gap[0]) / self._gap[1]}
        if reset:
            self._gap = None
        return out

    @property
    def _needs_response(self) -> bool:
        return bool(self.hparams["w_energy"] or self.hparams["w_adv"])

    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator,
             critic: nn.Module | None = None) -> torch.Tensor:
        noise, target = x[:, 0:1], x[:, 1:2]
        h = self.hparams

        def solve(n: torch.Tensor) -> torch.Tensor:
            return integrate(lambda x, t: net(x, cond, t).float(), n, int(h["steps"]), str(h["method"]))

        pred = solve(noise)
        loss = torch.mean((pred - target) ** 2)
        if h["w_sum"]:
            loss = loss + h["w_sum"] * channel_sum_loss(self.detector, pred, target.clamp_min(0.0))
        if h["w_energy"]:
            imgs = (pred, solve(torch.randn(noise.shape, generator=gen, device=noise.device)))
            sc = str(h["energy_scale"])
            a, b, y = (channel_sum_features(self.detector, img, sc) for img in (*imgs, x[:, 2:3]))
            if h["energy_lit"]:  # the number of lit fibres as a sixth feature
                a, b = (torch.cat([f, lit_fibres(img, scale=sc)], 1) for f, img in zip((a, b), imgs))
                y = torch.cat([y, lit_fibres(x[:, 2:3], hard=True, scale=sc)], 1)
            loss = loss + h["w_energy"] * energy_score(a, b, y)
        if critic is not None:  # the critic's hinge loss, and the student's term with the critic frozen
            real = shower_features(self.detector, x[:, 2:3], hard=True)
            fake = shower_features(self.detector, pred)
            logits = critic(torch.cat([real, fake.detach()]), torch.cat([cond, cond]).float())
            d_real, d_fake = logits[: len(real)], logits[len(real):]
            loss = loss + hinge_critic_loss(d_real, d_fake)
            gap = (d_real.float().mean() - d_fake.float().mean()).detach()  # float32: bf16 logits under autocast
            self._gap = (self._gap[0] + gap, self._gap[1] + 1) if self._gap else (gap, 1)
            with frozen(critic):
                loss = loss + h["w_adv"] * hinge_generator_loss(critic(fake, cond.float()))
        return loss
