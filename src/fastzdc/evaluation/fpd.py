"""Fréchet and kernel physics distances (FPD, KPD) between two sets of feature vectors.

Both follow the conventions of ``jetnet.evaluation`` (Kansal et al., arXiv 2211.10295), re-implemented
from the formulas:

* **Normalisation**: every feature column of *both* sets is divided by ``max |x|`` of that column in
  the **reference** ("real") set (columns whose maximum is 0 are left as they are).
* **FPD**: the Fréchet distance of the Gaussians fitted to two samples,

  ``FD = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))``,

  is biased upwards by ``O(1/N)`` for samples of size N. It is evaluated at ``num_points`` batch
  sizes ``N_i`` evenly spaced in ``1/N`` between ``1/min_samples`` and ``1/max_samples``, averaged
  over ``num_batches`` random batches at each size, and a straight line in ``1/N`` is fitted; the
  intercept is FPD at ``N -> inf`` and its error is the intercept's standard error from the fit
  covariance (ordinary least squares, residual-scaled, as ``scipy.optimize.curve_fit``). This error
  measures the scatter about the line only, not the fluctuation of the finite sets themselves.
* **KPD**: the unbiased estimator of the squared maximum mean discrepancy with the polynomial kernel
  ``k(x, y) = (x . y / d + 1)^4`` (d = number of features),

  ``MMD^2_u = sum_{i != j} k(x_i, x_j) / (m(m-1)) + sum_{i != j} k(y_i, y_j) / (n(n-1))
  - 2 sum_{i, j} k(x_i, y_j) / (m n)``,

  on ``num_batches`` random batches of ``batch_size`` events per set; reported: the median over
  batches and half the 16-84 % inter-quantile range as the error.

Sample sizes: jetnet's defaults are min/max 20k/50k (FPD) and 10 batches of 5000 (KPD), made for
>= 50k events. Here they **scale with the available events** ``n = min(N_ref, N_gen)``:
``max_samples = min(50_000, n)``, ``min_samples = 0.4 max_samples`` (jetnet's ratio) and KPD
``batch_size = min(5000, n // 2)``. Batches are drawn **without replacement** from each set, so
that the finite pool's own ``O(1/n)`` bias is extrapolated away as well (with replacement the
``N -> inf`` intercept would keep a ``+O(1/n)`` bias of the pool) and the U-statistic has no
duplicate pairs. **Values computed at other sample sizes (in particular jetnet's or the
CaloChallenge tables at 50k-100k events, often quoted x10^3) are not directly comparable**: the
extrapolation removes the leading bias only, and the errors shrink with the sample size.

**Paired sets** (``paired=True``, the default when both sets have the same length): row k of the
reference and of the generated set belong to the same particle (the generated set was produced from
the reference conditions). Two such sets are *not* independent samples: shared conditions make
them closer to each other than two independent samples are, and the estimators above, built for
independent samples, then come out biased low by ``O(1/n)`` (measured on MC vs MC, 2000 events:
FPD about -1.6e-3, KPD about -7e-4, consistently negative across seeds). So for paired sets every
batch takes **the same row indices from both sets** (the pairs are the sampled units), which keeps
the FPD bias linear in ``1/N`` at every batch size, and KPD uses the U-statistic over pairs

``MMD^2_u = sum_{i != j} [k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(y_i, x_j)] / (m(m-1))``

(cross terms of a row with itself excluded), which is unbiased for the MMD of the marginals when
the *pairs* are i.i.d. For independent sets of equal length both ways are unbiased.

Both are 0 in expectation for two samples of one distribution (FPD up to the ``O(1/N^2)`` residue
of the fit; KPD exactly, and it can come out negative).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FastZDCError
from ._threads import DEFAULT_THREADS, limit_threads

FPD_MAX_SAMPLES = 50_000
FPD_MIN_RATIO = 0.4
FPD_NUM_BATCHES = 20
FPD_NUM_POINTS = 10
KPD_BATCH_SIZE = 5_000
KPD_NUM_BATCHES = 10
_KERNEL_BLOCK = 2048


def _check_pair(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(real, dtype=np.float64)
    y = np.asarray(gen, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or x.shape[1] == 0:
        raise FastZDCError(f"feature sets must be (N, d) and (M, d) with the same d >= 1, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise FastZDCError("feature sets contain NaN or inf")
    return x, y


def normalise_by_reference(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide every column of both sets by ``max |x|`` of that column in ``real`` (1 where it is 0)."""
    x, y = _check_pair(real, gen)
    scale = np.abs(x).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return x / scale, y / scale


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance of ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``Tr (S1 S2)^(1/2)`` is computed as ``sum sqrt(eig(A S2 A))`` with ``A = S1^(1/2)`` (symmetric
    PSD square root by ``eigh``): ``A S2 A`` is similar to ``S1 S2``, symmetric and PSD, so no complex
    parts or ill-conditioned ``sqrtm`` of a non-symmetric product arise.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise FastZDCError("frechet_distance: mean/covariance shapes do not match")
    w1, v1 = np.linalg.eigh(0.5 * (s1 + s1.T))
    a = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    m = a @ (0.5 * (s2 + s2.T)) @ a
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (m + m.T)), 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def _fd_of_samples(x: np.ndarray, y: np.ndarray) -> float:
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def _line_intercept(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Ordinary least-squares line ``y = a x + b``: ``b`` and its standard error
    ``sqrt(s^2 [(X^T X)^-1]_bb)`` with ``s^2 = RSS / (n - 2)`` (what ``scipy.optimize.curve_fit``
    returns without ``sigma``); the error is NaN for 2 points."""
    design = np.column_stack([x, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = len(x) - 2
    if dof <= 0:
        return float(coef[1]), float("nan")
    s2 = float(np.sum((y - design @ coef) ** 2)) / dof
    return float(coef[1]), float(np.sqrt(s2 * np.linalg.inv(design.T @ design)[1, 1]))


def fpd_sample_sizes(n: int) -> tuple[int, int]:
    """``(min_samples, max_samples)`` used for ``n`` available events per set (see the module docstring)."""
    max_s = min(FPD_MAX_SAMPLES, int(n))
    min_s = max(2, int(FPD_MIN_RATIO * max_s))
    if max_s < 10:
        raise FastZDCError(f"FPD needs at least 10 events per set, got {n}")
    return min_s, max_s


def _draw(rng: np.random.Generator, n_x: int, n_y: int, size: int, paired: bool) -> tuple[np.ndarray, np.ndarray]:
    ix = rng.choice(n_x, size, replace=False)
    return ix, (ix if paired else rng.choice(n_y, size, replace=False))


def _resolve_paired(paired: bool | None, n_x: int, n_y: int) -> bool:
    if paired is None:
        return n_x == n_y
    if paired and n_x != n_y:
        raise FastZDCError(f"paired sets need the same number of rows, got {n_x} and {n_y}")
    return bool(paired)


def fpd(
    real: np.ndarray,
    gen: np.ndarray,
    *,
    paired: bool | None = None,
    min_samples: int | None = None,
    max_samples: int | None = None,
    num_batches: int = FPD_NUM_BATCHES,
    num_points: int = FPD_NUM_POINTS,
    normalise: bool = True,
    seed: int = 42,
    n_threads: int = DEFAULT_THREADS,
) -> dict[str, Any]:
    """Fréchet physics distance, extrapolated to infinite sample size (see the module docstring).

    Args:
        real, gen: ``(N, d)`` and ``(M, d)`` feature sets (e.g. :func:`transform_features` output).
        paired: row k of both sets belongs to the same condition (see the module docstring);
            default: ``N == M``.
        min_samples, max_samples: batch-size range; default :func:`fpd_sample_sizes` of
            ``min(N, M)``; ``max_samples`` may not exceed ``min(N, M)`` (no replacement).
        num_batches: random batches averaged per batch size; num_points: batch sizes in the fit.
        normalise: divide by the reference set's ``max |x|`` per feature first.
        seed: seeds the batch draws.
        n_threads: BLAS threads (:func:`~fastzdc.evaluation._threads.limit_threads`).

    Returns:
        ``{"value", "err", "min_samples", "max_samples", "num_batches", "num_points", "paired"}``
        (the fit intercept and its standard error).
    """
    x, y = normalise_by_reference(real, gen) if normalise else _check_pair(real, gen)
    pair = _resolve_paired(paired, len(x), len(y))
    n = min(len(x), len(y))
    dmin, dmax = fpd_sample_sizes(n)
    min_s = dmin if min_samples is None else int(min_samples)
    max_s = dmax if max_samples is None else int(max_samples)
    if not 2 <= min_s <= max_s <= n:
        raise FastZDCError(f"FPD needs 2 <= min_samples <= max_samples <= {n}, got {min_s}, {max_s}")
    if num_batches < 1 or num_points < 2:
        raise FastZDCError("FPD needs num_batches >= 1 and num_points >= 2")
    sizes = (1.0 / np.linspace(1.0 / min_s, 1.0 / max_s, num_points)).astype(np.int64)
    rng = np.random.default_rng(seed)
    means = []
    with limit_threads(n_threads):
        for size in sizes:
            vals = []
            for _ in range(num_batches):
                ix, iy = _draw(rng, len(x), len(y), int(size), pair)
                vals.append(_fd_of_samples(x[ix], y[iy]))
            means.append(float(np.mean(vals)))
    intercept, err = _line_intercept(1.0 / sizes, np.asarray(means))
    return {"value": intercept, "err": err, "min_samples": int(min_s), "max_samples": int(max_s),
            "num_batches": int(num_batches), "num_points": int(num_points), "paired": pair}


def _kernel_sum(a: np.ndarray, b: np.ndarray, d: int) -> float:
    """``sum_{i,j} (a_i . b_j / d + 1)^4`` in row blocks (memory ~ block x len(b))."""
    total = 0.0
    for s in range(0, len(a), _KERNEL_BLOCK):
        k = a[s : s + _KERNEL_BLOCK] @ b.T / d + 1.0
        k *= k
        total += float(np.einsum("ij,ij->", k, k))
    return total


def mmd2_poly_unbiased(x: np.ndarray, y: np.ndarray, *, paired: bool = False) -> float:
    """Unbiased squared MMD with kernel ``(x . y / d + 1)^4`` (the module docstring's formulas).

    ``paired=True`` (equal lengths, row i of both sets a pair) leaves the ``k(x_i, y_i)`` terms out
    of the cross sum. Needs at least 2 rows per set.
    """
    x, y = _check_pair(x, y)
    m, n, d = len(x), len(y), x.shape[1]
    if m < 2 or n < 2:
        raise FastZDCError("the unbiased MMD needs at least 2 rows per set")
    diag_x = float(((np.einsum("ij,ij->i", x, x) / d + 1.0) ** 4).sum())
    diag_y = float(((np.einsum("ij,ij->i", y, y) / d + 1.0) ** 4).sum())
    kxx = (_kernel_sum(x, x, d) - diag_x) / (m * (m - 1))
    kyy = (_kernel_sum(y, y, d) - diag_y) / (n * (n - 1))
    if paired:
        if m != n:
            raise FastZDCError(f"paired sets need the same number of rows, got {m} and {n}")
        diag_xy = float(((np.einsum("ij,ij->i", x, y) / d + 1.0) ** 4).sum())
        kxy = (_kernel_sum(x, y, d) - diag_xy) / (m * (m - 1))
    else:
        kxy = _kernel_sum(x, y, d) / (m * n)
    return float(kxx + kyy - 2.0 * kxy)


def kpd(
    real: np.ndarray,
    gen: np.ndarray,
    *,
    paired: bool | None = None,
    batch_size: int | None = None,
    num_batches: int = KPD_NUM_BATCHES,
    normalise: bool = True,
    seed: int = 42,
    n_threads: int = DEFAULT_THREADS,
) -> dict[str, Any]:
    """Kernel physics distance: median and half the 16-84 % spread of :func:`mmd2_poly_unbiased` over batches.

    Args:
        real, gen: ``(N, d)`` and ``(M, d)`` feature sets.
        paired: as in :func:`fpd` (default ``N == M``).
        batch_size: events per set and batch; default ``min(5000, min(N, M) // 2)``.
        num_batches: random batches (each drawn without replacement).
        normalise: divide by the reference set's ``max |x|`` per feature first.
        seed: seeds the batch draws.
        n_threads: BLAS threads (:func:`~fastzdc.evaluation._threads.limit_threads`).

    Returns:
        ``{"value", "err", "batch_size", "num_batches", "paired"}``.
    """
    x, y = normalise_by_reference(real, gen) if normalise else _check_pair(real, gen)
    pair = _resolve_paired(paired, len(x), len(y))
    n = min(len(x), len(y))
    bs = min(KPD_BATCH_SIZE, n // 2) if batch_size is None else int(batch_size)
    if not 2 <= bs <= n:
        raise FastZDCError(f"KPD needs 2 <= batch_size <= {n}, got {bs}")
    if num_batches < 1:
        raise FastZDCError("KPD needs num_batches >= 1")
    rng = np.random.default_rng(seed)
    vals = []
    with limit_threads(n_threads):
        for _ in range(num_batches):
            ix, iy = _draw(rng, len(x), len(y), bs, pair)
            vals.append(mmd2_poly_unbiased(x[ix], y[iy], paired=pair))
    q16, q50, q84 = np.percentile(vals, [16, 50, 84])
    return {"value": float(q50), "err": float(0.5 * (q84 - q16)), "batch_size": int(bs),
            "num_batches": int(num_batches), "paired": pair}
