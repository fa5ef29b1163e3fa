"""The noise stream: standard-normal noise for any rows of a virtual ``(N, *shape)`` array.

Block k of :data:`NOISE_BLOCK` rows is drawn by a CPU ``torch.Generator`` seeded with ``(seed, k)``, so
the noise of a row depends on the seed and the row index only -- never on the batch size, the device
or the back end (PyTorch and ONNX Runtime generators read the same stream).
"""

from __future__ import annotations

import torch

NOISE_BLOCK = 1024


class NoiseStream:
    """Standard-normal noise for rows ``[a, b)`` of a virtual ``(N, *shape)`` array, reproducible from
    ``seed`` alone.

    >>> s = NoiseStream(3, (2,))
    >>> bool(torch.equal(s.rows(1020, 1030)[5], NoiseStream(3, (2,)).rows(1025, 1026)[0]))
    True
    """

    def __init__(self, seed: int, shape: tuple[int, ...]) -> None:
        self.seed = seed
        self.shape = tuple(shape)
        self._cache: tuple[int, torch.Tensor] | None = None

    def _block(self, k: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != k:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + k) % (2**63))
            self._cache = (k, torch.randn((NOISE_BLOCK, *self.shape), generator=gen))
        return self._cache[1]

    def rows(self, a: int, b: int) -> torch.Tensor:
        parts = []
        for k in range(a // NOISE_BLOCK, (b - 1) // NOISE_BLOCK + 1):
            lo, hi = max(a, k * NOISE_BLOCK), min(b, (k + 1) * NOISE_BLOCK)
            parts.append(self._block(k)[lo - k * NOISE_BLOCK : hi - k * NOISE_BLOCK])
        return parts[0] if len(parts) == 1 else torch.cat(parts)
