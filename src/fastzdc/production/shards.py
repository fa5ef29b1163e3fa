"""Which rows a shard generates: ``--shard i/n`` or the batch system's environment.

Shard ``i`` of ``n`` over ``N`` rows writes rows ``[i*N//n, (i+1)*N//n)``: the shards partition the
rows, and every row gets the noise it gets in a one-process run (noise is keyed by the seed and the
global row). Without ``--shard`` the shard comes from the environment, first match wins:

* ``RANK`` / ``WORLD_SIZE`` (torchrun, MPI launchers that set them);
* ``SLURM_ARRAY_TASK_ID`` / ``SLURM_ARRAY_TASK_COUNT`` (a SLURM job array; the index counts from
  ``SLURM_ARRAY_TASK_MIN``, so ``--array=1-8`` works as well as ``--array=0-7``).

HTCondor sets no such variable: pass ``--shard $(Process)/N`` in the submit file. ``--shard 0/1``
turns sharding off inside an array job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import FastZDCError

MAX_SHARDS = 1_000_000


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0 <= index < count``); ``source`` says where it came from."""

    index: int = 0
    count: int = 1
    source: str = "none"

    def rows(self, n: int) -> tuple[int, int]:
        """The row range ``[a, b)`` of this shard among ``n`` rows.

        >>> Shard(1, 3).rows(10)
        (3, 6)
        """
        return self.index * n // self.count, (self.index + 1) * n // self.count

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"i/n"`` -> :class:`Shard` (``0 <= i < n``).

    >>> parse_shard("2/8")
    Shard(index=2, count=8, source='--shard')
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if m is None:
        raise FastZDCError(f"--shard must be I/N (shard I of N, counted from 0), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if not 1 <= n <= MAX_SHARDS or not 0 <= i < n:
        raise FastZDCError(f"--shard {text}: need 0 <= I < N <= {MAX_SHARDS}")
    return Shard(i, n, "--shard")


def _int(env: Mapping[str, str], key: str) -> int | None:
    value = env.get(key)
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise FastZDCError(f"environment variable {key}={value!r} is not an integer") from None


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard:
    """The shard the environment asks for (see the module docstring), or shard 0 of 1."""
    env = os.environ if env is None else env
    for idx_key, cnt_key, base_key in (("RANK", "WORLD_SIZE", None),
                                       ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN")):
        idx, cnt = _int(env, idx_key), _int(env, cnt_key)
        if idx is None or cnt is None:
            continue
        idx -= (_int(env, base_key) or 0) if base_key else 0
        if not 1 <= cnt <= MAX_SHARDS or not 0 <= idx < cnt:
            raise FastZDCError(f"{idx_key}/{cnt_key} give shard {idx} of {cnt}: need 0 <= index < count")
        return Shard(idx, cnt, f"{idx_key}/{cnt_key}")
    return Shard()


def resolve_shard(explicit: str | None, env: Mapping[str, str] | None = None) -> Shard:
    """``--shard`` when given (it wins), else the environment's."""
    return parse_shard(explicit) if explicit else shard_from_env(env)
