"""The published 70/10/20 split, reproduced exactly.

The published code splits rows with scikit-learn: ``train_test_split(..., test_size=0.2,
random_state=42)`` gives (train+val, test), then ``train_test_split(train+val, test_size=0.125,
random_state=43)`` gives (train, val) (docs/data.md). The indices depend only on the
number of rows, so users of the real data get exactly the papers' split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import FastZDCError


@dataclass(frozen=True)
class Split:
    """Row indices of the three parts (in the order scikit-learn returns them)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def published_split(n: int) -> Split:
    """Indices of the published split of ``n`` rows: about 70 % train, 10 % validation, 20 % test."""
    if n < 10:
        raise FastZDCError(f"need at least 10 rows to split 70/10/20, got {n}")
    idx = np.arange(n)
    trainval, test = train_test_split(idx, test_size=0.2, random_state=42)
    train, val = train_test_split(trainval, test_size=0.125, random_state=43)
    return Split(np.asarray(train), np.asarray(val), np.asarray(test))
