"""Baselines every model is measured against (besides the Monte Carlo floor): the shower library."""

from __future__ import annotations

from .lookup import LookupGenerator, lookup_features

__all__ = ["LookupGenerator", "lookup_features"]
