"""Standard scaling of the 9 particle features, saved as JSON and in ALICE O2's text format.

``x_scaled = (x - mean) / scale`` per feature, fitted on the training split only. A feature with zero
spread gets ``scale = 1`` (as scikit-learn does).

O2's format (``Detectors/ZDC/fastsimulation/scales/*.txt``, read by ``o2::zdc::fastsim::loadScales``)::

    #means
    <9 numbers, one per line>

    #scales
    <9 numbers, one per line>
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_write_text
from ..conditions import FEATURE_NAMES, N_FEATURES
from ..errors import FastZDCError


@dataclass(frozen=True)
class StandardScaler:
    """Per-feature mean and scale (population std, ``ddof=0``, as scikit-learn's)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, conditions: np.ndarray) -> StandardScaler:
        """Fit on ``(N, 9)`` features (accumulated in float64)."""
        x = np.asarray(conditions, dtype=np.float64)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std == 0] = 1.0
        return cls(mean, std)

    def transform(self, conditions: np.ndarray) -> np.ndarray:
        """Scaled features as float32."""
        return ((np.asarray(conditions, np.float64) - self.mean) / self.scale).astype(np.float32)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        return (np.asarray(scaled, np.float64) * self.scale + self.mean).astype(np.float32)

    # -------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        return {"features": list(FEATURE_NAMES), "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict, path: str | Path | None = None) -> StandardScaler:
        try:
            mean = np.asarray(d["mean"], np.float64)
            scale = np.asarray(d["scale"], np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise FastZDCError(f"scaler needs 'mean' and 'scale' lists ({err})", path) from None
        return cls._checked(mean, scale, path)

    def save_json(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load_json(cls, path: str | Path) -> StandardScaler:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()), path)
        except (OSError, ValueError, RecursionError) as err:
            raise FastZDCError(f"cannot read scaler JSON ({err})", path) from None

    # -------------------------------------------------------------- O2 text
    def to_o2_text(self) -> str:
        means = "\n".join(repr(float(v)) for v in self.mean)
        scales = "\n".join(repr(float(v)) for v in self.scale)
        return f"#means\n{means}\n\n#scales\n{scales}\n"

    def save_o2(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_o2_text())

    @classmethod
    def from_o2_text(cls, text: str, path: str | Path | None = None) -> StandardScaler:
        blocks: dict[str, list[float]] = {}
        current: str | None = None
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                current = line[1:].strip().lower()
                if current in blocks:
                    raise FastZDCError(f"line {lineno}: block #{current} appears twice", path)
                blocks[current] = []
                continue
            if current is None:
                raise FastZDCError(f"line {lineno}: number before any #means/#scales header", path)
            try:
                blocks[current].append(float(line))
            except ValueError:
                raise FastZDCError(f"line {lineno}: not a number: {line!r}", path) from None
        for key in ("means", "scales"):
            if key not in blocks:
                raise FastZDCError(f"missing #{key} block", path)
        return cls._checked(np.asarray(blocks["means"]), np.asarray(blocks["scales"]), path)

    @classmethod
    def load_o2(cls, path: str | Path) -> StandardScaler:
        try:
            return cls.from_o2_text(Path(path).read_text(), path)
        except OSError as err:
            raise FastZDCError(f"cannot read scaler file ({err})", path) from None

    @classmethod
    def _checked(cls, mean: np.ndarray, scale: np.ndarray, path) -> StandardScaler:
        if mean.shape != (N_FEATURES,) or scale.shape != (N_FEATURES,):
            raise FastZDCError(f"scaler needs {N_FEATURES} means and {N_FEATURES} scales, got {mean.size} and {scale.size}", path)
        if not (np.isfinite(mean).all() and np.isfinite(scale).all()) or (scale <= 0).any():
            raise FastZDCError("scaler values must be finite with positive scales", path)
        return cls(mean, scale)
