"""The noise stream: standard-normal noise for any rows of a virtual ``(N, *shape)`` array.

Block k of :data:`NOISE_BLOCK` rows is drawn by a CPU ``torch.Generator`` seeded with ``(seed, k)``, so
the noise of a row depends on the seed and the row index only -- never on the batch size, the device
or the back end (PyTorch and ONNX Runtime generators read the same stream).

A block is drawn only as far as the rows asked for, and continued from the generator's state when later
rows are asked for. That gives the same numbers as drawing the whole block at once because PyTorch's
CPU ``randn`` of n >= 16 values draws n uniforms in order and turns them into normals 16 at a time: a
draw of a multiple of 16 values is a prefix of any longer draw from the same state, and two such draws
in a row equal one (checked by ``tests/test_noise_prefix.py`` for every shipped noise shape). Rows are
therefore drawn in steps of :func:`row_step` rows (a multiple of 16 values). One row of a fresh seed
costs one row of noise, not a block.
"""

from __future__ import annotations

import math

import torch

NOISE_BLOCK = 1024
RANDN_CHUNK = 16
"""PyTorch's CPU ``randn`` transforms uniforms into normals in chunks of this many values"""


def row_step(shape: tuple[int, ...]) -> int:
    """The fewest rows of ``shape`` whose values are a multiple of :data:`RANDN_CHUNK` (1 for 44 x 44, 56 x 30,
    2 x 14 x 8; 8 for 2 x 11 x 11); it divides :data:`NOISE_BLOCK`."""
    return RANDN_CHUNK // math.gcd(RANDN_CHUNK, math.prod(shape))


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
        self.step = row_step(self.shape)
        self._cache: tuple[int, torch.Generator, torch.Tensor | None] | None = None

    def _block(self, k: int, upto: int) -> torch.Tensor:
        """Rows ``[0, upto)`` of block ``k`` (at least; drawn in steps of :attr:`step` rows)."""
        if self._cache is None or self._cache[0] != k:
            self._cache = (k, torch.Generator().manual_seed((self.seed * 1_000_003 + k) % (2**63)), None)
        _, gen, drawn = self._cache
        have = 0 if drawn is None else len(drawn)
        if have < upto:
            more = min(NOISE_BLOCK, -(-upto // self.step) * self.step) - have
            extra = torch.randn((more, *self.shape), generator=gen)
            drawn = extra if drawn is None else torch.cat([drawn, extra])
            self._cache = (k, gen, drawn)
        return drawn

    def rows(self, a: int, b: int) -> torch.Tensor:
        k0, k1 = a // NOISE_BLOCK, (b - 1) // NOISE_BLOCK
        if k0 == k1:  # the common case: one block
            return self._block(k0, b - k0 * NOISE_BLOCK)[a - k0 * NOISE_BLOCK : b - k0 * NOISE_BLOCK]
        parts = []
        for k in range(k0, k1 + 1):
            lo, hi = max(a, k * NOISE_BLOCK), min(b, (k + 1) * NOISE_BLOCK)
            parts.append(self._block(k, hi - k * NOISE_BLOCK)[lo - k * NOISE_BLOCK : hi - k * NOISE_BLOCK])
        return torch.cat(parts)
