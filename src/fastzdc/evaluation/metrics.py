"""Fidelity metrics of the published work, on photon counts.

Everything here works on photon counts; log1p images must be mapped back with ``exp(x) - 1`` first
(:func:`fastzdc.detector.counts_from_log1p`).

* **Channel sums**: the 5 channels of :class:`~fastzdc.detector.Detector` (4 quadrant towers on the
  (i+j)-even fibres, the common channel on the odd ones).
* **Wasserstein** ``W``: the 1-D Wasserstein-1 distance between the distributions of one channel sum
  over the reference and the generated set, ``W1(u, v) = ∫ |F_u(t) - F_v(t)| dt`` (identical to
  ``scipy.stats.wasserstein_distance``), per channel, and its mean over the 5 channels.
* **MAE** (paired: generated row k against reference row k): ``mean over rows and channels of
  |s_gen - s_ref|``, i.e. the mean absolute error *per channel* in photons. The published
  implementation (faster_zdc) divides this once more by 5; :attr:`ResultRow.mae_div5` gives that
  number so the published MAE figures can be compared (docs/data.md).
* **Pixel RMSE**: ``sqrt(mean over rows and pixels of (gen - ref)^2)`` in photons.
* **Pooling**: each test condition is generated ``n_rep`` times (default 5, as published); the
  reference set is repeated ``n_rep`` times and all repetitions are pooled into one distribution
  before W and MAE.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from ..detector import N_CHANNELS, Detector
from ..generator import Generator

N_REP_DEFAULT = 5


def wasserstein_per_channel(ref_sums: np.ndarray, gen_sums: np.ndarray) -> np.ndarray:
    """``(5,)`` W1 distances between ``(N, 5)`` and ``(M, 5)`` channel-sum sets (unpaired)."""
    ref_sums = np.asarray(ref_sums, np.float64)
    gen_sums = np.asarray(gen_sums, np.float64)
    return np.array([wasserstein_distance(ref_sums[:, c], gen_sums[:, c]) for c in range(ref_sums.shape[1])])


def mae_per_channel(ref_sums: np.ndarray, gen_sums: np.ndarray) -> np.ndarray:
    """``(5,)`` paired mean absolute errors of channel sums; rows must correspond."""
    ref_sums = np.asarray(ref_sums, np.float64)
    gen_sums = np.asarray(gen_sums, np.float64)
    if ref_sums.shape != gen_sums.shape:
        raise ValueError(f"paired MAE needs equal shapes, got {ref_sums.shape} and {gen_sums.shape}")
    return np.abs(ref_sums - gen_sums).mean(axis=0)


def pixel_rmse(ref: np.ndarray, gen: np.ndarray, chunk: int = 8192) -> float:
    """Per-pixel RMSE in photons between paired ``(N, nx, ny)`` count images."""
    if ref.shape != gen.shape:
        raise ValueError(f"paired RMSE needs equal shapes, got {ref.shape} and {gen.shape}")
    total = 0.0
    for start in range(0, ref.shape[0], chunk):
        d = ref[start : start + chunk].astype(np.float64) - gen[start : start + chunk].astype(np.float64)
        total += float(np.square(d).sum())
    return float(np.sqrt(total / max(ref.size, 1)))


@dataclass
class ResultRow:
    """One row of the published Table 1 layout, for one generator on one test set."""

    name: str
    detector: str
    w_mean: float
    w_per_channel: list[float]
    mae: float
    """paired MAE per channel [photons]"""
    mae_div5: float
    """``mae / 5``: the published implementation's normalisation"""
    mae_per_channel: list[float]
    rmse: float
    n_test: int
    n_rep: int
    n_params: int
    time_per_sample_ms: float
    """wall time of ``generate`` divided by the number of generated samples (this machine)"""
    batch_size: int
    device: str = "cpu"
    precision: str = "float32"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_counts(
    detector: Detector, ref: np.ndarray, gen: np.ndarray, n_rep: int = 1
) -> dict[str, Any]:
    """W, MAE and RMSE between reference counts ``(N, nx, ny)`` and ``n_rep`` pooled generations
    ``(n_rep * N, nx, ny)`` laid out repetition by repetition (all N rows of repetition 0 first)."""
    n = ref.shape[0]
    if gen.shape[0] != n * n_rep:
        raise ValueError(f"expected {n * n_rep} generated rows ({n_rep} x {n}), got {gen.shape[0]}")
    ref_sums = detector.channel_sums(ref)
    gen_sums = detector.channel_sums(gen)
    ref_pool = np.tile(ref_sums, (n_rep, 1))
    w = wasserstein_per_channel(ref_pool, gen_sums)
    mae = mae_per_channel(ref_pool, gen_sums)
    rmse_sq = np.mean([pixel_rmse(ref, gen[r * n : (r + 1) * n]) ** 2 for r in range(n_rep)])
    return {
        "w_mean": float(w.mean()),
        "w_per_channel": w.tolist(),
        "mae": float(mae.mean()),
        "mae_div5": float(mae.mean() / N_CHANNELS),
        "mae_per_channel": mae.tolist(),
        "rmse": float(np.sqrt(rmse_sq)),
    }


def evaluate_generator(
    generator: Generator,
    conditions: np.ndarray,
    responses: np.ndarray,
    *,
    n_rep: int = N_REP_DEFAULT,
    seed: int = 0,
    batch_size: int = 8192,
    device: Any = None,
    name: str | None = None,
    advance: Any = None,
) -> tuple[ResultRow, np.ndarray]:
    """Generate ``n_rep`` responses per test condition and score them against ``responses``.

    Returns:
        the result row and the generated counts ``(n_rep * N, nx, ny)`` (repetition-major).
        ``advance(k)`` is passed on to the generator (progress per batch).
    """
    det = generator.detector
    tiled = np.tile(np.asarray(conditions), (n_rep, 1))
    t0 = time.perf_counter()
    gen = generator.generate(tiled, seed=seed, batch_size=batch_size, device=device, advance=advance)
    elapsed = time.perf_counter() - t0
    scores = compare_counts(det, responses, gen, n_rep)
    row = ResultRow(
        name=name or generator.name,
        detector=det.name,
        n_test=int(len(conditions)),
        n_rep=n_rep,
        n_params=int(generator.n_params),
        time_per_sample_ms=1e3 * elapsed / max(len(tiled), 1),
        batch_size=batch_size,
        device=str(device or generator.device),
        precision=str(generator.precision),
        **scores,
    )
    return row, gen
