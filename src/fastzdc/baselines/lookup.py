"""The shower library: a k-nearest-neighbour look-up of stored training responses.

For each particle, pick uniformly one of its ``k`` nearest training particles and return that particle's
stored response -- the frozen-shower library that collider experiments have used for fast simulation
for decades. Distances are Euclidean in standardised particle features, with the energy as ``log E``::

    f(x) = (log E, vx, vy, vz, px, py, pz, mass, charge),   d(x, y) = | (f(x) - f(y)) / s |

with ``s`` the per-feature standard deviation of the training rows. A generative surrogate earns its
place where it beats this baseline: the look-up cannot interpolate (a particle gets a shower of a
*different* particle) and needs the whole training set in memory.

With ``rescale=True`` a picked response whose particle had more energy than the query is thinned to the
query's energy: each photon is kept with probability ``E_query / E_picked`` (binomial thinning; light
is close to proportional to the deposited energy). Responses of lower-energy neighbours are kept as they
are (thinning cannot add light).

The library is held sparse (CSR, uint16): the responses are about 96 % zeros, so 140k ZN responses take
tens of MB instead of 540 MB.

>>> import numpy as np
>>> from fastzdc.data import Dataset
>>> from fastzdc.detector import ZN
>>> cond = np.tile(np.array([[2500, 0, 0, 0, 0, 0, 2500, 939.6, 0]], np.float32), (3, 1))
>>> cond[:, 0] = [1000, 2000, 3000]
>>> resp = np.zeros((3, 44, 44), np.uint16); resp[:, 0, 0] = [10, 20, 30]
>>> lib = LookupGenerator.from_dataset(Dataset(cond, resp, np.zeros(3, np.int32), ZN), k=1)
>>> lib.generate(cond[[2, 0]], seed=0)[:, 0, 0].tolist()
[30, 10]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, issparse
from scipy.spatial import cKDTree

from ..conditions import E
from ..data.dataset import Dataset
from ..data.validate import validate_conditions
from ..detector import Detector
from ..errors import FastZDCError
from ..generator import GeneratorDefaults

BLOCK = 1024
"""rows drawn per random stream ``(seed, block)``: the output does not depend on the batch size"""


def lookup_features(conditions: np.ndarray) -> np.ndarray:
    """``(N, 9)`` raw features -> ``(N, 9)`` float64 with the energy replaced by ``log(max(E, 1e-3 GeV))``."""
    f = np.asarray(conditions, np.float64).copy()
    f[:, E] = np.log(np.maximum(f[:, E], 1e-3))
    return f


class LookupGenerator(GeneratorDefaults):
    """The shower library as a :class:`~fastzdc.generator.Generator`.

    Args:
        detector: the calorimeter of the responses.
        conditions: ``(N, 9)`` raw features of the training particles.
        responses: their responses, ``(N, nx, ny)`` counts or an ``(N, nx * ny)`` sparse matrix.
        k: neighbours to choose from (``k = 1``: always the nearest; larger ``k`` adds variety).
        rescale: thin a higher-energy neighbour's photons to the query's energy.
        name: label in tables (default ``lookup-<det>``).
        source: where the library came from (a file path), for provenance.
    """

    precision = "uint16"

    def __init__(self, detector: Detector, conditions: np.ndarray, responses: Any, *, k: int = 8,
                 rescale: bool = False, name: str | None = None, source: str = "", synthetic: bool = False) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise FastZDCError(f"look-up k must be a positive integer, got {k!r}")
        n = len(conditions)
        if n == 0:
            raise FastZDCError("the look-up needs at least one training response", source or None)
        if responses.shape[0] != n:
            raise FastZDCError(f"{responses.shape[0]} responses for {n} particles", source or None)
        t0 = time.perf_counter()
        self.detector = detector
        self.k = int(min(k, n))
        self.rescale = bool(rescale)
        self.name = name or f"lookup-{self.detector.name}"
        self.source = source
        self.sampler: dict[str, Any] = {"k": self.k, "rescale": self.rescale}
        feats = lookup_features(validate_conditions(conditions))
        self.mean = feats.mean(axis=0)
        self.std = feats.std(axis=0)
        self.std[self.std == 0] = 1.0
        self.tree = cKDTree((feats - self.mean) / self.std)
        self.library = responses.tocsr() if issparse(responses) else csr_matrix(np.asarray(responses).reshape(n, -1))
        if self.library.shape[1] != detector.shape[0] * detector.shape[1]:
            raise FastZDCError(f"responses have {self.library.shape[1]} pixels, {detector.name.upper()} has "
                               f"{detector.shape[0] * detector.shape[1]}", source or None)
        self.energy = np.asarray(conditions[:, E], np.float64)
        self.synthetic = bool(synthetic)
        self.build_seconds = time.perf_counter() - t0

    @classmethod
    def from_dataset(cls, train: Dataset, **options: Any) -> LookupGenerator:
        """The look-up of a dataset's responses (``options``: ``k``, ``rescale``, ``name``, ``source``)."""
        return cls(train.detector, train.conditions, train.responses, synthetic=train.synthetic, **options)

    def __len__(self) -> int:
        return int(self.library.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the library (responses, tree, energies), in bytes."""
        lib = self.library.data.nbytes + self.library.indices.nbytes + self.library.indptr.nbytes
        return int(lib + self.tree.data.nbytes + self.tree.indices.nbytes + self.energy.nbytes)

    def neighbours(self, conditions: np.ndarray) -> np.ndarray:
        """``(N, k)`` indices of each particle's ``k`` nearest training particles, nearest first."""
        q = (lookup_features(validate_conditions(conditions)) - self.mean) / self.std
        _, idx = self.tree.query(q, k=self.k)
        return np.asarray(idx).reshape(len(q), self.k)

    def generate(
        self, conditions: np.ndarray, *, seed: int | None = None, batch_size: int = 4096, device: Any = None,
        advance: Callable[[int], None] | None = None, **sampler: Any,
    ) -> np.ndarray:
        """``(N, 9)`` raw features -> ``(N, nx, ny)`` uint16 counts, each a stored training response.

        Rows ``[j*1024, (j+1)*1024)`` draw their choices from the random stream ``(seed, j)``: the same seed
        gives the same output whatever ``batch_size`` (which only sets the work per progress step).
        """
        if any(v is not None for v in sampler.values()):
            raise FastZDCError(f"the look-up has no per-call options (got {', '.join(sampler)}); set k and rescale "
                               "when building it")
        if batch_size < 1:
            raise FastZDCError(f"batch size must be >= 1, got {batch_size}")
        cond = validate_conditions(conditions)
        seed = 0 if seed is None else int(seed)
        out = np.empty((len(cond), *self.detector.shape), np.uint16)
        step = max(BLOCK, batch_size // BLOCK * BLOCK)
        for start in range(0, len(cond), step):
            stop = min(start + step, len(cond))
            idx = self.neighbours(cond[start:stop])
            for b0 in range(start, stop, BLOCK):
                b1 = min(b0 + BLOCK, stop)
                rng = np.random.default_rng([seed, b0 // BLOCK])
                pick = idx[b0 - start : b1 - start][np.arange(b1 - b0), rng.integers(0, self.k, b1 - b0)]
                block = self.library[pick].toarray().reshape(b1 - b0, *self.detector.shape)
                if self.rescale:
                    keep = np.clip(cond[b0:b1, E] / np.maximum(self.energy[pick], 1e-9), 0.0, 1.0)
                    block = rng.binomial(block, keep[:, None, None])
                out[b0:b1] = block
            if advance is not None:
                advance(stop - start)
        return out

    def __repr__(self) -> str:
        return f"LookupGenerator({self.detector.name!r}, rows={len(self)}, k={self.k}, rescale={self.rescale})"
