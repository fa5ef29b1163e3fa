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


def check_dir_writable(path: str | Path) -> Path:
    """Fail early (before any work) if the folder ``path`` cannot be created or replaced."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.exists() and not path.is_dir():
        raise FastZDCError("exists and is not a folder", path)
    if not parent.is_dir():
        raise FastZDCError(f"folder {parent} does not exist", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FastZDCError(f"folder {parent} is not writable", path)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; when the block succeeds it replaces ``path`` (a previous
    folder there is moved aside first and deleted after the swap), otherwise it is deleted."""
    import shutil

    path = check_dir_writable(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; finished folders get the usual mode
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
