"""Plots and the self-contained HTML report of an evaluation (``fastzdc evaluate --out``, ``fastzdc demo``)."""

from .html import DetectorEvaluation, build_report

__all__ = ["DetectorEvaluation", "build_report"]
