"""Inference precision of a trained network: ``float32``, ``bfloat16`` (autocast), or ``auto``.

``bfloat16`` runs the network under ``torch.autocast``: convolutions and linear layers in bfloat16 (on
AMX units on a Sapphire Rapids CPU, tensor cores on a GPU), the rest in float32. The FM UNet keeps its
GroupNorms and its output convolution in float32 even then (:class:`fastzdc.nn.unet.GroupNorm32`,
:class:`fastzdc.nn.unet.Float32Conv2d`): PyTorch's bfloat16 GroupNorm on the CPU is slow on
channels_last tensors and biases the photon yield. The ODE state stays float32.

``auto`` picks bfloat16 only where both hold: the hardware computes it natively (a CUDA GPU with
bfloat16, a CPU with AMX or AVX512-BF16) and the network is marked ``auto_bfloat16`` (the FM UNets
and the latent FMs, whose fidelity in bfloat16 was measured equal to float32 within the noise seed's
scatter: benchmarks/RESULTS.md, "bfloat16 on the CPU"; not the VQ prior, whose token draws change);
float32 otherwise.

>>> resolve_precision("auto", torch.nn.Linear(2, 2), torch.device("cpu"))
'float32'
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import FastZDCError

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
        return any(bool(f()) for f in checks if f is not None)
    return False


def resolve_precision(precision: str, net: nn.Module, device: torch.device) -> str:
    """``auto`` -> ``bfloat16`` or ``float32`` (see the module docstring); the others unchanged."""
    if precision not in PRECISIONS:
        raise FastZDCError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bfloat16" if getattr(net, "auto_bfloat16", False) and native_bf16(device) else "float32"
