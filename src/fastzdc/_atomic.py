"""Write files under a temporary name in the same folder and rename them when complete.

A crash, a Ctrl-C or a validation error therefore never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FastZDCError


def check_writable(path: str | Path) -> Path:
    """Fail early (before any work) if ``path`` cannot be created: missing or read-only folder."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise FastZDCError("is a directory, expected a file name", path)
    if not parent.is_dir():
        raise FastZDCError(f"folder {parent} does not exist", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FastZDCError(f"folder {parent} is not writable", path)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    >>> with atomic_path("out.h5") as tmp:   # doctest: +SKIP
    ...     write_everything(tmp)
    """
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; finished files get the usual mode
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
