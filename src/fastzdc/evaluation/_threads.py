"""Thread limits for the evaluation's small numerical kernels."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import FastZDCError

DEFAULT_THREADS = 1


@contextmanager
def limit_threads(n_threads: int) -> Iterator[None]:
    """Run the block with at most ``n_threads`` OpenMP/BLAS threads (NumPy, sklearn) and torch
    intra-op threads.

    The classifiers and the FPD/KPD matrices here are small: extra threads gain little, and on a
    shared machine busy-waiting worker threads made a 4-epoch CNN fit 5-20x slower and one FPD on
    2000 x 40 features 24 s instead of ~1 s (measured on the 2-core project machine under load).
    The previous settings are restored on exit. torch is only touched when it is already imported.
    """
    from threadpoolctl import threadpool_limits

    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise FastZDCError(f"n_threads must be an integer >= 1, got {n_threads!r}")
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(n_threads)
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(previous)
