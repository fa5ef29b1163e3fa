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


def w_sorted(ref_sorted: np.ndarray, gen_sorted: np.ndarray, n_rep: int) -> np.ndarray:
    """Per-channel W1 of ``n_rep``-fold tiled reference sums against generated sums, from column-wise sorted
    arrays ``(N, 5)`` and ``(n_rep * N, 5)``: for equal sample sizes W1 is the mean absolute difference of
    the order statistics, and the tiled reference's order statistics are each value repeated ``n_rep`` times."""
    return np.abs(np.repeat(ref_sorted, n_rep, axis=0) - gen_sorted).mean(axis=0)


def bootstrap_w(
    ref_sums: np.ndarray,
    gen_sums: dict[str, np.ndarray],
    n_rep: int,
    *,
    floor: str | None = None,
    n_boot: int = 100,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Bootstrap errors of the mean W of each generator and of its ratio to the floor.

    The test particles are resampled with replacement ``n_boot`` times; every generator (and the floor)
    is re-scored on the *same* resampled particles, each particle with all its ``n_rep`` generations, so
    the ratio's error includes the correlation through the shared reference.

    Args:
        ref_sums: ``(N, 5)`` channel sums of the reference.
        gen_sums: per key, ``(n_rep * N, 5)`` channel sums, repetition-major.
        floor: the key of the floor (for the ratios), or None.

    Returns:
        per key ``{"w_err", "w_over_floor_err"}`` (standard deviations over the resamples; the ratio only
        with a floor).
    """
    n = len(ref_sums)
    rng = np.random.default_rng([seed, 0xB007])
    reps = {k: v.reshape(n_rep, n, -1) for k, v in gen_sums.items()}
    w = {k: np.empty(n_boot) for k in gen_sums}
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        ref = np.sort(ref_sums[idx], axis=0)
        for k, g in reps.items():
            w[k][b] = w_sorted(ref, np.sort(g[:, idx].reshape(n_rep * n, -1), axis=0), n_rep).mean()
    out: dict[str, dict[str, float]] = {}
    for k, v in w.items():
        out[k] = {"w_err": float(v.std(ddof=1)) if n_boot > 1 else float("nan")}
        if floor is not None and floor in w:
            out[k]["w_over_floor_err"] = float((v / w[floor]).std(ddof=1)) if n_boot > 1 else float("nan")
    return out


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
