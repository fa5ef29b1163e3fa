"""Float32 islands under autocast: the few computations that bfloat16 would spoil.

>>> import torch
>>> with torch.autocast("cpu", dtype=torch.bfloat16):
...     y = in_float32(lambda x: x @ x, torch.ones(2, 2))
>>> y.dtype
torch.float32
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def in_float32(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` with autocast off and ``x`` in float32 when autocast is on for ``x``'s device (the result
    is then float32); plain ``fn(x)`` otherwise, so float32 code, checkpoints and ONNX graphs are untouched."""
    if not torch.is_autocast_enabled(x.device.type):
        return fn(x)
    with torch.autocast(x.device.type, enabled=False):
        return fn(x.float())
