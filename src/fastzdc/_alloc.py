"""glibc allocator settings for large-batch generation on CPU.

At batch 4096 the activations of one network evaluation are hundreds of MB. glibc serves each of those
buffers with a fresh ``mmap`` and gives it back with ``munmap`` on free, so every evaluation page-faults
its whole working set again (2-4x at batch 4096, docs/performance.md). Two ``mallopt`` settings stop
that: no ``mmap`` for large blocks (``M_MMAP_MAX = 0``: they come from the heap and are reused) and no
trimming of the heap top below 2 GiB (``M_TRIM_THRESHOLD``). The environment variables
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=...`` do the same, but only when set before the process
starts; ``mallopt`` applies them from inside, so ``fastzdc generate / evaluate / demo`` get them without
a wrapper, and the Python API (``fastzdc.load(...).generate``) applies them itself on its first CPU call
of at least :data:`LARGE_BATCH` rows. Cost: freed memory stays with the process (its peak stays resident)
until it exits; set ``FASTZDC_MALLOC_TUNING=0`` to keep glibc's defaults in the Python API.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int
LARGE_BATCH = 256
"""rows per network call from which the API tunes the allocator (a batch-256 FM call allocates tens of MB)"""
OPT_OUT = "FASTZDC_MALLOC_TUNING"
_tuned: bool | None = None


def tune_allocator() -> bool:
    """Apply the settings when the C library is glibc (Linux); True when both were accepted."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def tune_allocator_once(rows: int) -> bool:
    """:func:`tune_allocator` once per process, when a call of ``rows`` rows is large enough to gain from it
    (``rows >= LARGE_BATCH``) and ``FASTZDC_MALLOC_TUNING`` is not ``0``; True once the settings are on."""
    global _tuned
    if _tuned is None and rows >= LARGE_BATCH and os.environ.get(OPT_OUT, "1") != "0":
        _tuned = tune_allocator()
    return bool(_tuned)
