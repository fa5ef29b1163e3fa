"""The frozen first stage of a two-stage kind (latent FM on a VAE, the prior on a VQ autoencoder).

The second stage names the first stage's checkpoint in one hyper-parameter (``model.vae``,
``model.vq``). When a run starts, :func:`read_first_stage` checks that checkpoint (it exists, it is of
the right kind, for the same detector) and records its hyper-parameters and weight hash in the second
stage's own hyper-parameters, so that the second stage's checkpoint is self-contained: it is rebuilt
and loaded without the first stage's files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..detector import Detector
from ..errors import FastZDCError
from ..training.checkpoint import WEIGHTS, load_config, load_tensors, load_weights_into, resolve


def read_first_stage(
    path: str, *, want: str, label: str, option: str, second: str, detector: Detector
) -> tuple[Path, dict[str, Any], str]:
    """``(checkpoint folder, its hparams, sha256 of its weights)`` of the ``want`` checkpoint at ``path``.

    ``label`` names it in messages ("VAE"), ``option`` is the hyper-parameter that holds it ("vae"),
    ``second`` the kind being trained ("latent-fm"). Every defect is a one-line :class:`FastZDCError`.
    """
    if not path:
        raise FastZDCError(f"{second} needs a trained {label}: set model.{option} = PATH (a checkpoint of 'fastzdc train {want}')")
    ckpt = resolve(path)
    cfg = load_config(ckpt)
    if cfg["kind"] != want:
        raise FastZDCError(f"model.{option} must be a {want} checkpoint, this one is {cfg['kind']!r}", ckpt)
    if cfg["detector"] != detector.name:
        raise FastZDCError(
            f"the {label} was trained on {cfg['detector'].upper()}, {second} here is for {detector.name.upper()}", ckpt
        )
    from ..training.loop import file_sha256  # the loop imports the model registry

    sha = file_sha256(ckpt / WEIGHTS) if (ckpt / WEIGHTS).exists() else ""
    return ckpt, dict(cfg["hparams"]), sha


def load_first_stage(net: nn.Module, path: str) -> nn.Module:
    """``net`` (built from the recorded hparams) with the weights of the checkpoint at ``path``, in eval mode."""
    ckpt = resolve(path)
    load_weights_into(net, load_tensors(ckpt / WEIGHTS), ckpt / WEIGHTS)
    return net.eval()
