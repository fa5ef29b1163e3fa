"""The frozen first stage of a two-stage kind: the VAE of a latent FM, the VQ autoencoder of a prior, the
teacher of a student, the source of a decoder-tuning run (:class:`fastzdc.models.FirstStage`).

Model kinds never read files. When a run starts, :func:`make_kind` checks the first stage's checkpoint
(it exists, it is of the right kind, for the same detector) and records its weight hash and its
hyper-parameters in the second stage's own hyper-parameters, so that the second stage's checkpoint is
self-contained: it is rebuilt and loaded without the first stage's files. :func:`load_first_stage`
gives the loop the first stage's network with its weights.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..checkpoint import WEIGHTS, check_values, file_sha256, load_config, load_tensors, load_weights_into, resolve
from ..data.scaler import StandardScaler
from ..detector import Detector
from ..errors import FastZDCError
from ..models import ModelKind, get_kind


def resolve_first_stage(name: str, detector: Detector, hparams: dict[str, Any] | None) -> dict[str, Any]:
    """``hparams`` with the first stage of kind ``name`` checked and recorded (a copy; unchanged when the
    kind has no first stage, or it is already recorded, as in a resumed run)."""
    cls = get_kind(name)
    fs = cls.first_stage
    h = dict(hparams or {})
    if fs is None or fs.resolved(h) or not fs.wanted(h):
        return h
    path = h.get(fs.option)
    if not path:
        raise FastZDCError(f"{name} needs a trained {fs.label}: set model.{fs.option} = PATH "
                           f"(a checkpoint of 'fastzdc train {fs.kind}')")
    if not isinstance(path, str):
        raise FastZDCError(f"model.{fs.option} must be a checkpoint path, got {path!r}")
    ckpt = resolve(path)
    cfg = load_config(ckpt)
    if cfg["kind"] != fs.kind and cfg["kind"] not in fs.also:
        wanted = " or ".join((fs.kind, *fs.also))
        raise FastZDCError(f"model.{fs.option} must be a {wanted} checkpoint, this one is {cfg['kind']!r}", ckpt)
    if cfg["detector"] != detector.name:
        raise FastZDCError(f"the {fs.label} was trained on {str(cfg['detector']).upper()}, {name} here is for "
                           f"{detector.name.upper()}", ckpt)
    if not (ckpt / WEIGHTS).is_file():
        raise FastZDCError("missing file", ckpt / WEIGHTS)
    source = dict(cfg["hparams"])
    h[fs.option] = str(ckpt)
    h[fs.sha] = file_sha256(ckpt / WEIGHTS)
    if fs.hparams:
        h[fs.hparams] = source
    h.update({k: source[k] for k in fs.copy if k in source})
    return h


def make_kind(name: str, detector: Detector, hparams: dict[str, Any] | None = None) -> ModelKind:
    """The model kind ``name`` for ``detector`` with ``hparams``, its first stage resolved."""
    check_values(get_kind(name).defaults, hparams or {}, None, prefix="model.")
    return get_kind(name)(detector, resolve_first_stage(name, detector, hparams))


def load_first_stage(kind: ModelKind) -> nn.Module | None:
    """The kind's first-stage network with the recorded checkpoint's weights, in eval mode (None when the
    kind has none). The weights must still be those that were recorded (same SHA-256)."""
    fs = kind.first_stage
    if fs is None or not fs.wanted(kind.hparams):
        return None
    ckpt = resolve(kind.hparams[fs.option])
    if file_sha256(ckpt / WEIGHTS) != kind.hparams[fs.sha]:
        raise FastZDCError(f"the {fs.label}'s weights changed since this run started (SHA-256 differs from "
                           f"model.{fs.sha})", ckpt / WEIGHTS)
    net = kind.first_stage_network()
    load_weights_into(net, load_tensors(ckpt / WEIGHTS), ckpt / WEIGHTS)
    return net.eval()


def first_stage_scaler(kind: ModelKind) -> StandardScaler | None:
    """The particle scaler recorded in the kind's first-stage checkpoint (None when the kind has none).

    A second stage feeds its particles to the first stage's network (a VAE's conditional decoder, a
    teacher, a VQ decoder), which was trained on particles scaled its own way: a fresh second stage adopts
    that scaling instead of fitting one to its own data."""
    fs = kind.first_stage
    if fs is None or not fs.wanted(kind.hparams):
        return None
    ckpt = resolve(kind.hparams[fs.option])
    return StandardScaler.from_dict(load_config(ckpt)["scaler"], ckpt)
