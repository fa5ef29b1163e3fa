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

:class:`SplitNoise` is the other stream: one generator drawing batch after batch through a training split,
read by the processes of a data-parallel run each for the rows it holds (:class:`TrainingRows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
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


@dataclass(frozen=True)
class TrainingRows:
    """The rows of a training split that one process holds: their ``positions`` (ascending) among the
    split's ``total`` rows, which a single process reads in batches of ``batch`` rows.

    A data-parallel run gives each process some parts of the split; a kind that draws noise for its
    training inputs (:class:`SplitNoise`) draws it as if one process read the whole split, so the inputs of
    a row do not depend on the number of processes."""

    positions: np.ndarray
    total: int
    batch: int

    def __post_init__(self) -> None:
        p = self.positions
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.integer):
            raise ValueError("positions must be an integer numpy array")
        if p.ndim != 1 or (len(p) and (p[0] < 0 or p[-1] >= self.total or np.any(np.diff(p) <= 0))) or self.batch < 1:
            raise ValueError("positions must be ascending row positions in [0, total), batch >= 1")


class SplitNoise:
    r"""Standard-normal noise for the training rows of one process, in the order that process reads them.

    One CPU generator seeded with ``seed`` draws ``randn((*lead, b, *shape))`` for each batch of ``b`` rows
    of the whole split, batch after batch (:attr:`TrainingRows.batch` rows each); :meth:`take` hands out
    the values of the next rows this process holds (``lead`` axes first, rows on axis ``len(lead)``).
    Batches holding none of its rows are drawn too, to keep the generator's state. With ``rows`` None it
    is the plain draw of each batch asked for (the same as holding all rows and reading them in batches of
    :attr:`TrainingRows.batch`).
    """

    def __init__(self, seed: int, shape: tuple[int, ...], lead: tuple[int, ...] = (),
                 rows: TrainingRows | None = None) -> None:
        self.gen = torch.Generator().manual_seed(int(seed))
        self.shape, self.lead, self.rows = tuple(shape), tuple(lead), rows
        self._given = 0  # local rows handed out
        self._held = 0  # local rows drawn (handed out or buffered)
        self._drawn = 0  # rows of the whole split drawn
        self._buffer: torch.Tensor | None = None

    def take(self, b: int) -> torch.Tensor:
        """Noise of the next ``b`` rows of this process: ``(*lead, b, *shape)``."""
        if self.rows is None:
            return torch.randn((*self.lead, b, *self.shape), generator=self.gen)
        pos, axis, batch = self.rows.positions, len(self.lead), self.rows.batch
        if b == 0:
            return torch.empty((*self.lead, 0, *self.shape))
        if self._given + b > len(pos):
            raise ValueError(f"asked for rows up to {self._given + b} of the {len(pos)} this process holds")
        while self._held < self._given + b:
            a, end = self._drawn, min(self._drawn + batch, self.rows.total)
            z = torch.randn((*self.lead, end - a, *self.shape), generator=self.gen)
            stop = int(np.searchsorted(pos, end))
            mine = z.index_select(axis, torch.from_numpy(pos[self._held : stop] - a))
            self._buffer = mine if self._buffer is None else torch.cat([self._buffer, mine], axis)
            self._held, self._drawn = stop, end
        if self._buffer is None:  # unreachable: b > 0 rows were drawn above
            raise RuntimeError("no noise drawn")
        out, self._buffer = self._buffer.split([b, self._buffer.shape[axis] - b], axis)
        self._given += b
        return out
