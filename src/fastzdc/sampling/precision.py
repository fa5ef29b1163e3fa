"""Inference precision of a trained network: float32, bfloat16, or ``auto``.

Two ways to run a network in bfloat16:

* **bf16 weights** (:func:`bf16_copy`): a copy of the network with its weights in bfloat16, except the
  submodules it names in ``float32_modules`` (the FM UNet keeps its condition/time embedding in
  float32: a flow time ``t`` in bfloat16 carries an error of up to 2^-9, i.e. radians at the
  embedding's highest frequencies). The network casts its image input to bfloat16 and its output back,
  so the ODE state stays float32. On this project's 2-core Sapphire Rapids CPU (AMX units) the ZP FM
  UNet runs 1.47x faster per evaluation at batch 256 than in float32, and 1.25x faster than under
  autocast (benchmarks/RESULTS.md, "bfloat16 on the CPU"); the copy is kept in the contiguous layout,
  which is measured faster than channels_last for bfloat16 there (GroupNorm on channels_last bfloat16
  tensors is slow).
* **autocast** for any other network (the VQ prior, the latent models): per-operation casts.

``auto`` picks bfloat16 only where both hold: the hardware computes it natively (a CUDA GPU with
bfloat16, a CPU with AMX or AVX512-BF16) and the network declares ``float32_modules`` (the FM UNets,
whose fidelity in bfloat16 was measured equal to float32: benchmarks/RESULTS.md); float32 otherwise.

>>> resolve_precision("float32", torch.nn.Linear(2, 2), torch.device("cpu"))
'float32'
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import FastZDCError

PRECISIONS = ("auto", "float32", "bfloat16")


def supports_bf16_weights(net: nn.Module) -> bool:
    """True when the network runs with bfloat16 weights (it names its float32 submodules)."""
    return isinstance(getattr(net, "float32_modules", None), tuple)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (not emulated)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu = torch.cpu
        checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
        return any(bool(f()) for f in checks if f is not None)
    return False


def resolve_precision(precision: str, net: nn.Module, device: torch.device) -> str:
    """``auto`` -> ``bfloat16`` or ``float32`` (see the module docstring); the others unchanged."""
    if precision not in PRECISIONS:
        raise FastZDCError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bfloat16" if supports_bf16_weights(net) and native_bf16(device) else "float32"


def bf16_copy(net: nn.Module) -> nn.Module:
    """A bfloat16 copy of ``net`` for inference; its ``float32_modules`` stay float32."""
    if not supports_bf16_weights(net):
        raise FastZDCError(f"{type(net).__name__} does not run with bfloat16 weights (use autocast)")
    out = copy.deepcopy(net).to(torch.bfloat16)
    for name in net.float32_modules:
        sub = getattr(out, name, None)
        if sub is not None:
            sub.float()
    return out.eval()
