"""Evaluation: the published metrics (W and MAE on the channel sums), the fidelity tests beyond them
(high-level features, classifier two-sample tests, FPD/KPD, per-energy and per-species agreement,
per-condition diversity) and the protocol that scores generators against the Monte Carlo floor.

Usage (``ds`` a test dataset, ``generated`` a model's counts for its conditions)::

    from fastzdc.evaluation import fidelity_suite
    report = fidelity_suite(ds.detector, ds.conditions, ds.responses, generated, seed=0)
    report["classifier"]["features"]["auc"], report["fpd"]["value"]

Modules: :mod:`.metrics` (W, MAE, result rows), :mod:`.protocol` (floor, scoring, steps sweep), :mod:`.features` (the 12-number feature vector), :mod:`.classifier` (AUC tests),
:mod:`.fpd` (FPD/KPD, jetnet conventions), :mod:`.conditional` (energy/species slices),
:mod:`.diversity` (k repeats per condition), :mod:`.suite` (the entry point and its keys).
"""

from __future__ import annotations

from .classifier import classifier_auc_features, classifier_auc_images, hanley_mcneil_se
from .conditional import by_energy, by_species, photon_sum_agreement, species_groups
from .diversity import diversity, diversity_from_counts
from .features import FEATURE_NAMES, high_level_features, transform_features
from .fpd import fpd, frechet_distance, kpd, mmd2_poly_unbiased
from .metrics import compare_counts, evaluate_generator
from .protocol import FLOOR_KEY, add_fidelity, floor_generator, score_generators, steps_sweep
from .suite import fidelity_suite

__all__ = [
    "FLOOR_KEY", "add_fidelity", "compare_counts", "evaluate_generator", "floor_generator", "score_generators",
    "steps_sweep", "FEATURE_NAMES", "by_energy", "by_species", "classifier_auc_features", "classifier_auc_images",
    "diversity", "diversity_from_counts", "fidelity_suite", "fpd", "frechet_distance",
    "hanley_mcneil_se", "high_level_features", "kpd", "mmd2_poly_unbiased", "photon_sum_agreement",
    "species_groups", "transform_features",
]
