"""Agreement per slice of the particle conditions: energy bins and particle species.

For a reference set and a generated set **of the same particles** (row k of both belongs to
condition k), every slice reports

* ``w_mean``: the published metric, the 5-channel mean of the 1-D Wasserstein-1 distances of the
  channel sums (:func:`fastzdc.evaluation.metrics.wasserstein_per_channel`), over the rows of the slice;
  ``None`` when the slice holds fewer than ``min_events`` rows;
* the mean photon sum of both sets and their ratio (generated / reference);
* the **empty fraction** (share of events whose image is all zero in this detector) of both sets,
  their difference (generated - reference) and its binomial standard error
  ``sqrt(p_r (1-p_r) / n + p_g (1-p_g) / n)``.

Energy bins: ``E`` (column 0 of the conditions, GeV) in the half-open bins
``[edges[i], edges[i+1])``; the default :data:`ENERGY_EDGES_GEV` is 0/100/300/1000/3000/inf GeV
(the stand-in's energy quartiles are about 190/560/1500 GeV).

Species: the 9 conditions carry the mass (MeV) and charge (e) only; the species is recovered from
them (matched within 1 MeV, :func:`fastzdc.mc.species.pdg_guess`, docs/mc.md) unless PDG ids
are given, and grouped into :data:`SPECIES_GROUPS` (n and n-bar, Λ and Λ-bar cannot be told apart
from the 9 features, so they share a group either way).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..conditions import CHARGE, MASS, E
from ..data.validate import validate_conditions, validate_pdgid
from ..detector import N_CHANNELS
from ..errors import FastZDCError
from .features import PHOTON_SUM
from .metrics import wasserstein_per_channel

ENERGY_EDGES_GEV: tuple[float, ...] = (0.0, 100.0, 300.0, 1000.0, 3000.0, float("inf"))
MIN_EVENTS = 20

SPECIES_GROUPS: dict[str, tuple[int, ...]] = {
    "gamma/e/pi0": (22, 11, -11, 111),
    "n": (2112, -2112),
    "p": (2212,),
    "pbar": (-2212,),
    "pi+-/K+-": (211, -211, 321, -321),
    "K0": (311, 310, 130),
    "hyperon": (3122, -3122, 3212, -3212, 3222, -3222, 3112, -3112, 3322, -3322, 3312, -3312, 3334, -3334),
}
"""Species groups by PDG id; anything else falls into ``"other"``."""


def species_groups(conditions: np.ndarray, pdgid: np.ndarray | None = None) -> np.ndarray:
    """``(N,)`` object array of :data:`SPECIES_GROUPS` names (or ``"other"``) per row.

    Uses ``pdgid`` when given, else the PDG id implied by (mass, charge).
    """
    cond = validate_conditions(conditions)
    if pdgid is None:
        from ..mc.species import pdg_guess

        ids = pdg_guess(cond[:, MASS], cond[:, CHARGE])
    else:
        ids = validate_pdgid(pdgid, len(cond))
    out = np.full(len(cond), "other", dtype=object)
    for name, codes in SPECIES_GROUPS.items():
        out[np.isin(ids, codes)] = name
    return out


def _fraction_diff(empty_ref: np.ndarray, empty_gen: np.ndarray) -> dict[str, float]:
    n_r, n_g = len(empty_ref), len(empty_gen)
    p_r, p_g = float(empty_ref.mean()), float(empty_gen.mean())
    return {"reference": p_r, "generated": p_g, "difference": p_g - p_r,
            "difference_err": float(np.sqrt(p_r * (1 - p_r) / n_r + p_g * (1 - p_g) / n_g))}


def slice_agreement(
    ref_features: np.ndarray, gen_features: np.ndarray, *, min_events: int = MIN_EVENTS
) -> dict[str, Any]:
    """W (5-channel mean), photon-sum means and empty fractions of one slice (rows of raw
    :func:`~fastzdc.evaluation.features.high_level_features`)."""
    n = len(ref_features)
    out: dict[str, Any] = {"n": int(n)}
    if n == 0 or len(gen_features) == 0:
        return out | {"w_mean": None, "w_per_channel": None, "photon_sum": None, "empty_fraction": None}
    if n >= min_events and len(gen_features) >= min_events:
        w = wasserstein_per_channel(ref_features[:, :N_CHANNELS], gen_features[:, :N_CHANNELS])
        out["w_mean"], out["w_per_channel"] = float(w.mean()), w.tolist()
    else:
        out["w_mean"], out["w_per_channel"] = None, None
    m_r = float(ref_features[:, PHOTON_SUM].mean())
    m_g = float(gen_features[:, PHOTON_SUM].mean())
    out["photon_sum"] = {"mean_reference": m_r, "mean_generated": m_g, "ratio": m_g / m_r if m_r > 0 else None}
    out["empty_fraction"] = _fraction_diff(ref_features[:, PHOTON_SUM] == 0, gen_features[:, PHOTON_SUM] == 0)
    return out


def _paired(conditions: np.ndarray, ref_features: np.ndarray, gen_features: np.ndarray) -> np.ndarray:
    cond = validate_conditions(conditions)
    if not len(cond) == len(ref_features) == len(gen_features):
        raise FastZDCError(
            "conditions, reference and generated need the same rows, "
            f"got {len(cond)}, {len(ref_features)}, {len(gen_features)}"
        )
    return cond


def by_energy(
    conditions: np.ndarray,
    ref_features: np.ndarray,
    gen_features: np.ndarray,
    *,
    edges: tuple[float, ...] | np.ndarray = ENERGY_EDGES_GEV,
    min_events: int = MIN_EVENTS,
) -> list[dict[str, Any]]:
    """:func:`slice_agreement` per energy bin ``[lo, hi)``; each entry adds ``"lo"``, ``"hi"`` (GeV,
    ``None`` for inf) and ``"label"``."""
    cond = _paired(conditions, ref_features, gen_features)
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not (np.diff(edges) > 0).all():
        raise FastZDCError("energy edges must be an increasing sequence of at least 2 values")
    e = cond[:, E].astype(np.float64)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (e >= lo) & (e < hi)
        label = f"{lo:g}-{hi:g} GeV" if np.isfinite(hi) else f">= {lo:g} GeV"
        row = {"label": label, "lo": float(lo), "hi": float(hi) if np.isfinite(hi) else None}
        out.append(row | slice_agreement(ref_features[sel], gen_features[sel], min_events=min_events))
    return out


def by_species(
    conditions: np.ndarray,
    ref_features: np.ndarray,
    gen_features: np.ndarray,
    *,
    pdgid: np.ndarray | None = None,
    min_events: int = MIN_EVENTS,
) -> list[dict[str, Any]]:
    """:func:`slice_agreement` per species group present in the data (entries add ``"species"``), in
    the order of :data:`SPECIES_GROUPS`, then ``"other"``."""
    cond = _paired(conditions, ref_features, gen_features)
    groups = species_groups(cond, pdgid)
    out = []
    for name in (*SPECIES_GROUPS, "other"):
        sel = groups == name
        if sel.any():
            out.append({"species": name} | slice_agreement(ref_features[sel], gen_features[sel], min_events=min_events))
    return out


def photon_sum_agreement(ref_features: np.ndarray, gen_features: np.ndarray) -> dict[str, Any]:
    """Whole-set photon sum: means, ratio, W1 of the photon-sum distributions (and W1 / reference mean),
    plus the empty fractions (as in :func:`slice_agreement`)."""
    from scipy.stats import wasserstein_distance

    s_r, s_g = ref_features[:, PHOTON_SUM], gen_features[:, PHOTON_SUM]
    m_r, m_g = float(s_r.mean()), float(s_g.mean())
    w1 = float(wasserstein_distance(s_r, s_g))
    return {
        "mean_reference": m_r,
        "mean_generated": m_g,
        "ratio": m_g / m_r if m_r > 0 else None,
        "w1": w1,
        "w1_over_mean": w1 / m_r if m_r > 0 else None,
        "empty_fraction": _fraction_diff(s_r == 0, s_g == 0),
    }


def channel_agreement(ref_features: np.ndarray, gen_features: np.ndarray) -> dict[str, Any]:
    """The published W on the whole set (one generation per condition, unpaired): ``{"w_mean", "w_per_channel"}``."""
    w = wasserstein_per_channel(ref_features[:, :N_CHANNELS], gen_features[:, :N_CHANNELS])
    return {"w_mean": float(w.mean()), "w_per_channel": w.tolist()}


__all__ = [
    "ENERGY_EDGES_GEV", "MIN_EVENTS", "SPECIES_GROUPS", "by_energy", "by_species", "channel_agreement",
    "photon_sum_agreement", "slice_agreement", "species_groups",
]
