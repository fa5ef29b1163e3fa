"""The work folder of a generate run: completed chunks a killed run resumes from.

``fastzdc generate -o OUT`` writes every chunk of rows to ``.OUT.parts/chunk-K.h5`` (each file
atomically: it exists only when complete) and records the run's arguments in ``run.json``. Only when
every chunk is there are they joined into ``OUT`` (atomically as well) and the folder removed. Run
again with the same arguments after a crash, ``kill -9`` or a lost node, and the chunks already in the
folder are kept: the run goes on from the first missing one. With other arguments (model, conditions,
seed, sampler, shard, chunk size, back end, precision, device, batch size) the folder is emptied and
the run starts again. A lock keeps a second run off the same output. A run that fails or is interrupted
(SIGINT, SIGTERM, SIGHUP) before completing a chunk removes the folder; ``kill -9`` leaves it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

from .._atomic import atomic_write_text
from ..data.join import h5_rows
from ..errors import FastZDCError

RUN_FILE = "run.json"
LOCK_FILE = "lock"


def work_dir(out: str | Path) -> Path:
    """The work folder of output ``out``: ``.<name>.parts`` beside it."""
    out = Path(out)
    return out.with_name(f".{out.name}.parts")


class WorkDir:
    """Completed chunk files of one run (see the module docstring)."""

    def __init__(self, out: str | Path, fingerprint: dict[str, Any]) -> None:
        self.path = work_dir(out)
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True))
        self.resumed = False
        self._lock: int | None = None

    def chunk_path(self, k: int) -> Path:
        return self.path / f"chunk-{k:08d}.h5"

    def done(self, k: int, rows: int) -> bool:
        """Whether chunk ``k`` is complete with ``rows`` rows (a damaged file is removed)."""
        p = self.chunk_path(k)
        if not p.is_file():
            return False
        try:
            if h5_rows(p) == rows:
                return True
        except FastZDCError:
            pass
        p.unlink(missing_ok=True)
        return False

    def open(self) -> Self:
        try:
            self.path.mkdir(exist_ok=True)
            self._lock = os.open(self.path / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as err:
            raise FastZDCError(f"cannot create the work folder ({err.strerror or err})", self.path) from None
        if not self._try_lock():
            self.close()
            raise FastZDCError("another fastzdc generate is writing this output (its work folder is locked)",
                               self.path)
        run = self.path / RUN_FILE
        previous = None
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(run.read_text())
        if previous == self.fingerprint:
            self.resumed = any(self.path.glob("chunk-*.h5"))
        else:
            for p in self.path.glob("chunk-*.h5"):
                p.unlink()
            atomic_write_text(run, json.dumps(self.fingerprint, sort_keys=True, indent=1))
        return self

    def _try_lock(self) -> bool:
        """Take the folder's lock (again: a no-op when held); False when another process holds it."""
        if self._lock is None:
            return False
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def chunks(self) -> Iterator[Path]:
        yield from sorted(self.path.glob("chunk-*.h5"))

    def remove(self) -> None:
        """Delete the folder (after the output is committed)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> Self:
        try:
            return self.open()
        except BaseException as err:  # a signal while opening: nothing to resume from yet
            self.__exit__(type(err))
            raise

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None and self._try_lock() and not any(self.path.glob("chunk-*.h5")):
            self.remove()  # stopped before a chunk was complete: nothing to resume from
        self.close()
