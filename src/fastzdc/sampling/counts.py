"""From a sampler's log1p images to photon counts, batch by batch.

Every generative kind samples continuous ``log1p`` images; the counts are ``round(exp(x) - 1)`` (or
``floor`` for a kind trained on dequantized counts ``n + U[0, 1)``), clipped to the uint16 range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .noise import NoiseStream

MAX_COUNT = int(np.iinfo(np.uint16).max)


def counts_from_log_images(x: torch.Tensor, dequantized: bool = False) -> np.ndarray:
    """``(B, 1, nx, ny)`` log1p images -> ``(B, nx, ny)`` uint16 counts: ``round(exp(max(x, 0)) - 1)``,
    or ``floor(...)`` for a model trained on dequantized counts ``n + U[0, 1)``.

    >>> counts_from_log_images(torch.log1p(torch.tensor([[[[0.4, 2.6]]]]))).tolist()
    [[[0, 3]]]
    """
    counts = torch.expm1(x.float().clamp_min(0.0))
    counts = (counts.floor_() if dequantized else counts.round_()).clamp_(0, MAX_COUNT)
    return counts[:, 0].to(torch.int32).cpu().numpy().astype(np.uint16)


def sample_counts(
    sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    cond_scaled: np.ndarray,
    noise: NoiseStream,
    image_shape: tuple[int, int],
    *,
    batch_size: int,
    device: torch.device,
    dequantized: bool = False,
    advance: Callable[[int], None] | None = None,
    pad: bool = False,
) -> np.ndarray:
    """``(N, nx, ny)`` uint16 counts: ``sample(conditions, noise) -> log1p images`` run on ``batch_size``
    rows at a time, row i with the noise of row i of ``noise``; ``advance(k)`` after every batch.

    ``pad``: the last batch is padded to ``batch_size`` rows (copies of its last row), so that the network
    always sees the same shape (reduced-precision kernels may round differently for other shapes)."""
    out = np.empty((len(cond_scaled), *image_shape), np.uint16)
    for start in range(0, len(cond_scaled), batch_size):
        c = torch.from_numpy(np.ascontiguousarray(cond_scaled[start : start + batch_size]))
        z = noise.rows(start, start + len(c))
        n = len(c)
        if pad and n < batch_size:
            c = torch.cat([c, c[-1:].expand(batch_size - n, *c.shape[1:])])
            z = torch.cat([z, z[-1:].expand(batch_size - n, *z.shape[1:])])
        out[start : start + n] = counts_from_log_images(sample(c.to(device), z.to(device)), dequantized)[:n]
        if advance is not None:
            advance(n)
    return out
