"""Fidelity evaluation beyond the published W: high-level features, classifier two-sample tests,
FPD/KPD, per-energy and per-species agreement, and per-condition diversity.

>>> from fastzdc.evaluation import fidelity_suite, diversity          # doctest: +SKIP
>>> report = fidelity_suite(ZN, ds.conditions, ds.responses, generated, seed=0)
>>> report["classifier"]["features"]["auc"], report["fpd"]["value"]

Modules: :mod:`.features` (the 12-number feature vector), :mod:`.classifier` (AUC tests),
:mod:`.fpd` (FPD/KPD, jetnet conventions), :mod:`.conditional` (energy/species slices),
:mod:`.diversity` (k repeats per condition), :mod:`.suite` (the entry point and its keys).
"""

from __future__ import annotations

from .classifier import classifier_auc_features, classifier_auc_images, hanley_mcneil_se
from .conditional import by_energy, by_species, photon_sum_agreement, species_groups
from .diversity import diversity, diversity_from_counts
from .features import FEATURE_NAMES, high_level_features, transform_features
from .fpd import fpd, frechet_distance, kpd, mmd2_poly_unbiased
from .suite import fidelity_suite

__all__ = [
    "FEATURE_NAMES", "by_energy", "by_species", "classifier_auc_features", "classifier_auc_images",
    "diversity", "diversity_from_counts", "fidelity_suite", "fpd", "frechet_distance",
    "hanley_mcneil_se", "high_level_features", "kpd", "mmd2_poly_unbiased", "photon_sum_agreement",
    "species_groups", "transform_features",
]
