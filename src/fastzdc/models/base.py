"""The interface every model kind implements, and the registry that maps names to kinds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..detector import Detector
from ..errors import FastZDCError
from ..sampling.noise import TrainingRows

_REGISTRY: dict[str, type[ModelKind]] = {}


@dataclass(frozen=True)
class FirstStage:
    """A frozen pretrained network that a kind is trained from (the VAE of a latent FM, the VQ autoencoder
    of a prior, the teacher of a student, the source of a decoder-tuning run).

    The kind names its checkpoint in the hyper-parameter ``option``. Before the kind is built, the
    training set-up (:func:`fastzdc.training.first_stage.resolve_first_stage`) checks that checkpoint and
    records the SHA-256 of its weights in ``sha`` and its hyper-parameters in ``hparams`` (or copies the
    ``copy`` keys into the kind's own hyper-parameters, for a network of the same architecture). The
    kind's checkpoint is thereby self-contained; kinds themselves never read files.
    """

    option: str
    """hyper-parameter holding the first stage's checkpoint path, e.g. ``"vae"``"""
    kind: str
    """the first stage's model kind, e.g. ``"vae"``"""
    label: str
    """its name in messages, e.g. ``"VAE"``"""
    sha: str
    """hyper-parameter recording the SHA-256 of its weights"""
    hparams: str = ""
    """hyper-parameter recording its hyper-parameters ("" when ``copy`` is used instead)"""
    copy: tuple[str, ...] = ()
    """its hyper-parameters copied into the kind's own (same architecture)"""
    optional: bool = False
    """an empty ``option`` means no first stage (e.g. a vq run that does not tune a decoder)"""
    also: tuple[str, ...] = ()
    """further kinds accepted as the first stage (checkpoints that build and sample as ``kind``'s network,
    e.g. a tuned VQ-GAN in place of its prior)"""

    def wanted(self, hparams: dict[str, Any]) -> bool:
        """Whether these hyper-parameters ask for a first stage."""
        return bool(hparams.get(self.option)) or not self.optional

    def resolved(self, hparams: dict[str, Any]) -> bool:
        """Whether the first stage was checked and recorded (a fresh run before the set-up: False)."""
        return bool(hparams.get(self.sha))


class ModelKind(ABC):
    """A model kind: how to build its network, its training loss, and how it samples.

    Images enter as log1p photon counts ``(B, 1, nx, ny)``; conditions as scaled features ``(B, 9)``.
    Kinds know nothing about files, progress bars or the CLI.
    """

    kind: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    """network hyper-parameters and their defaults"""
    sampler_defaults: ClassVar[dict[str, Any]] = {}
    """sampling options (steps, method, ...) and their defaults"""

    first_stage: ClassVar[FirstStage | None] = None
    """the frozen pretrained network this kind is trained from, if any"""

    def __init__(self, detector: Detector, hparams: dict[str, Any] | None = None) -> None:
        if hparams is not None and not isinstance(hparams, dict):
            raise FastZDCError(f"{self.kind} model options must be a table of KEY = VALUE, got {type(hparams).__name__}")
        unknown = set(hparams or {}) - set(self.defaults)
        if unknown:
            raise FastZDCError(f"unknown {self.kind} model options: {', '.join(sorted(unknown))}")
        self.detector = detector
        self.hparams = {**self.defaults, **(hparams or {})}
        self.inputs_report = {}
        fs = self.first_stage
        if fs is not None and fs.wanted(self.hparams) and not fs.resolved(self.hparams):
            if not self.hparams.get(fs.option):
                raise FastZDCError(f"{self.kind} needs a trained {fs.label}: set model.{fs.option} = PATH "
                                   f"(a checkpoint of 'fastzdc train {fs.kind}')")
            raise FastZDCError(f"the {fs.label} of this {self.kind} model (model.{fs.option}) is not resolved: build the "
                               f"kind with fastzdc.training.first_stage.make_kind")

    @abstractmethod
    def build(self) -> nn.Module:
        """A freshly initialised network."""

    @abstractmethod
    def loss(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Scalar training loss on a batch; all randomness from ``gen``."""

    @abstractmethod
    def sample(self, net: nn.Module, cond: torch.Tensor, noise: torch.Tensor, **options: Any) -> torch.Tensor:
        """log1p images ``(B, 1, nx, ny)`` from noise of :meth:`noise_shape` and scaled conditions."""

    # ---- optional capabilities (defaults: a plain generative model trained on images) ----------
    quick_export: ClassVar[bool] = True
    """False where exporting the sampler to ONNX takes minutes (a long unrolled loop): the ``auto`` back
    end then never exports such a checkpoint in memory (``--backend onnx`` still does), and the export
    skips onnxscript's graph optimiser (ONNX Runtime optimises the graph when it loads it)."""
    reconstructs: ClassVar[bool] = False
    """True for autoencoders: validation scores :meth:`reconstruct` of the validation images instead of
    samples drawn from the conditions."""

    def reconstruct(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """log1p reconstructions of log1p images ``x`` with scaled conditions ``cond`` (autoencoder kinds
        only; a conditional autoencoder's decoder uses them)."""
        raise FastZDCError(f"{self.kind} models do not reconstruct images")

    def build_critic(self) -> nn.Module | None:
        """A second network trained alongside the model (an adversarial discriminator), or None.

        The loop gives it its own optimiser (peak learning rate ``critic_lr``), keeps its weights and
        moments in ``last/`` for exact resume (never in the inference weights) and passes it to
        :meth:`loss` as ``critic=``. The loss returns the sum of both players' losses; the model's
        terms must evaluate the critic under :func:`fastzdc.nn.discriminator.frozen` so that one
        backward pass gives each network exactly its own gradient.
        """
        return None

    def bind_scaler(self, net: nn.Module, mean: Any, scale: Any) -> None:
        """Optional: give ``net`` the condition scaler of the training split (``x_scaled = (x - mean) / scale``),
        for networks that compute features of the raw particle inside (kept as buffers, saved with the
        weights). Called by the loop right after :meth:`build`. Default: nothing."""

    def first_stage_network(self) -> nn.Module:
        """A fresh network of :attr:`first_stage`'s architecture, for its weights to be loaded into."""
        raise FastZDCError(f"{self.kind} models have no first stage")

    def start_weights(self, net: nn.Module, first_stage: nn.Module | None) -> None:
        """Optional: the weights a fresh run starts from when no ``--init`` checkpoint is given (a
        distilled student starts as its teacher, ``first_stage``). Called by the loop before
        :meth:`training_inputs`. Default: nothing (the network's own initialisation)."""

    def training_inputs(
        self, net: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], first_stage: nn.Module | None = None,
        rows: TrainingRows | None = None,
    ) -> torch.Tensor | None:
        """Optional: what :meth:`loss` trains on instead of the images, computed once before training.

        ``batches`` yields ``(images, conditions)`` of the training rows in row order: log1p images
        ``(b, 1, nx, ny)`` and scaled conditions ``(b, 9)`` (the loop shows the progress). ``first_stage``
        is the frozen pretrained network of :attr:`first_stage` with its weights (loaded by the training
        set-up), or None. A kind built on it (latent FM on a VAE, a prior on a VQ autoencoder) copies the
        parts it samples with into ``net`` and returns the encoded training split ``(n_train, ...)``; the
        loop then draws its batches from that tensor. ``rows`` says where the rows sit in the whole training
        split (a process of a data-parallel run holds some of them; None: all of them): a kind that draws
        noise for its inputs draws it with :class:`~fastzdc.sampling.noise.SplitNoise`, so a row's inputs do
        not depend on the number of processes. Called on fresh and resumed runs, before the EMA copy is made.
        Default None: train on the images.
        """
        return None

    inputs_report: dict[str, float]
    """numbers about what :meth:`training_inputs` built (e.g. a fitted tokenizer's reconstruction error):
    the loop logs them once and records them in the checkpoint's config; set by kinds that have any"""

    def train_metrics(self, net: nn.Module, reset: bool = False) -> dict[str, float]:
        """Optional: statistics of the training so far in this epoch (e.g. the VQ codebook's usage and
        perplexity), shown beside the loss and recorded per epoch. The loop calls it with ``reset=True``
        once at the end of every epoch (the kind then restarts its counters). Default: none."""
        return {}

    @property
    def dequantized(self) -> bool:
        """True if the kind models dequantized counts ``n + U[0, 1)`` (decoded with floor, not round)."""
        return bool(self.hparams.get("dequantize", False))

    def noise_shape(self) -> tuple[int, ...]:
        """Shape of one sample's noise (without the batch dimension)."""
        return (1, *self.detector.shape)

    def sampler_options(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        opts = {**self.sampler_defaults, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        unknown = set(opts) - set(self.sampler_defaults)
        if unknown:
            raise FastZDCError(f"unknown {self.kind} sampler options: {', '.join(sorted(unknown))}")
        return opts


def register(cls: type[ModelKind]) -> type[ModelKind]:
    _REGISTRY[cls.kind] = cls
    return cls


def get_kind(name: str) -> type[ModelKind]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FastZDCError(f"unknown model kind {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None
    except TypeError:
        raise FastZDCError(f"a model kind is a name, got {type(name).__name__}") from None
