"""Scores of the response gate: calibration (expected calibration error) and discrimination (AUC) of
the probability of each event a calorimeter pair can show.

Events (from the 4 states none / ZN only / ZP only / both, :data:`fastzdc.nn.gate.STATES`): ``zn`` (ZN
lit), ``zp`` (ZP lit), ``any`` (O2's filter keeps the particle) and ``both``.

Expected calibration error (ECE) of an event: the predicted probabilities are cut into ``bins`` equal-width
bins; ECE = sum over bins of (fraction of particles in the bin) x |mean predicted probability - observed
frequency|. 0 for a calibrated predictor (up to the sampling noise of the labels).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

EVENTS = {"zn": (1, 3), "zp": (2, 3), "any": (1, 2, 3), "both": (3,)}
"""each event as the states it is made of"""


def event_probabilities(probs: np.ndarray) -> dict[str, np.ndarray]:
    """``(N, 4)`` state probabilities -> the probability of each of :data:`EVENTS`."""
    return {name: probs[:, list(states)].sum(axis=1) for name, states in EVENTS.items()}


def event_labels(states: np.ndarray) -> dict[str, np.ndarray]:
    """Observed states ``(N,)`` -> the 0/1 outcome of each of :data:`EVENTS`."""
    return {name: np.isin(states, states_of) for name, states_of in EVENTS.items()}


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of probabilities ``p`` for 0/1 outcomes ``y`` in ``bins`` equal-width bins."""
    p = np.asarray(p, np.float64)
    y = np.asarray(y, np.float64)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    sp = np.bincount(idx, weights=p, minlength=bins)
    sy = np.bincount(idx, weights=y, minlength=bins)
    return float(np.abs(sp - sy).sum() / max(len(p), 1))


def auc(score: np.ndarray, y: np.ndarray) -> float | None:
    """ROC AUC of ``score`` for 0/1 outcomes ``y`` (None where only one outcome occurs)."""
    y = np.asarray(y).astype(bool)
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, score))


def gate_scores(probs: np.ndarray, states: np.ndarray, *, bins: int = 15) -> dict[str, dict[str, float | None]]:
    """Per event: ECE, AUC, mean predicted probability and observed frequency; and the multi-class
    negative log-likelihood (``"nll"``) and top-label ECE (``"top"``)."""
    pe, ye = event_probabilities(probs), event_labels(states)
    out: dict[str, dict[str, float | None]] = {}
    for name in EVENTS:
        out[name] = {"ece": expected_calibration_error(pe[name], ye[name], bins), "auc": auc(pe[name], ye[name]),
                     "predicted": float(pe[name].mean()), "observed": float(ye[name].mean())}
    top = probs.argmax(axis=1)
    out["top"] = {"ece": expected_calibration_error(probs.max(axis=1), top == states, bins)}
    out["nll"] = {"value": float(-np.log(np.clip(probs[np.arange(len(states)), states], 1e-12, 1)).mean())}
    return out


def redraw_reference(states_draws: np.ndarray, states: np.ndarray) -> dict[str, dict[str, float | None]]:
    """The Monte Carlo's own discrimination: ``states_draws`` ``(K, N)`` holds K further Monte Carlo draws
    of the same particles; the predictor of an event is its frequency over the K draws (K = 1: a second
    draw used as a 0/1 predictor). Per event: ``auc_1`` (the first draw alone) and ``auc_k`` (all K)."""
    ys = event_labels(states)
    out: dict[str, dict[str, float | None]] = {}
    for name, states_of in EVENTS.items():
        hits = np.isin(states_draws, states_of)
        out[name] = {"auc_1": auc(hits[0].astype(np.float64), ys[name]),
                     "auc_k": auc(hits.mean(axis=0), ys[name]), "k": len(states_draws)}
    return out
