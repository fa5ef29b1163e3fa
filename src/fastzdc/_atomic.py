"""Write files under a temporary name in the same folder and rename them when complete.

A crash, a signal or a validation error therefore never leaves a half-written output behind:

* a file is written, where the file system allows it (Linux, ``O_TMPFILE``), as an *unnamed* file in
  the output's folder and linked under its name only when complete, so not even ``kill -9`` leaves a
  file behind; elsewhere it is written under ``.<name>.<pid>.<random>.part``;
* a folder is written as ``.<name>.<pid>.<random>.part`` and swapped in when complete;
* temporaries whose process is gone (``kill -9``, power loss) are removed by the next command that
  writes the same output.

Nothing is committed after a signal arrived (:func:`fastzdc.errors.raise_if_signalled`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FastZDCError, raise_if_signalled

_AT_FDCWD = -100
_AT_SYMLINK_FOLLOW = 0x400


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_writable(path: str | Path) -> Path:
    """Fail early (before any work) if ``path`` cannot be created: missing or read-only folder."""
    path = Path(path)
    parent = _parent(path)
    if path.is_dir():
        raise FastZDCError("is a directory, expected a file name", path)
    if not parent.is_dir():
        raise FastZDCError(f"folder {parent} does not exist", path)
    if not os.access(parent, os.W_OK | os.X_OK) or _virtual_fs(parent):
        raise FastZDCError(f"folder {parent} is not writable", path)
    return path


def _virtual_fs(folder: Path) -> bool:
    """``/proc``, ``/sys`` and ``/dev`` take no data files (root may 'write' there and fail later)."""
    try:
        top = folder.resolve().parts[1:2]
    except OSError:
        return False
    return top in (("proc",), ("sys",), ("dev",))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file or folder (same path, a symbolic link or a hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        try:
            return Path(a).resolve() == Path(b).resolve()
        except OSError:
            return False


def check_not_input(outputs: list[str | Path] | str | Path, inputs: list[str | Path | None]) -> None:
    """Refuse an output that is one of the command's inputs, or lies inside an input folder.

    Raises:
        FastZDCError: naming the output and the input it would overwrite.
    """
    outs = [outputs] if isinstance(outputs, (str, Path)) else list(outputs)
    for out in outs:
        out = Path(out)
        for inp in inputs:
            if inp is None:
                continue
            inp = Path(inp)
            if not inp.exists():
                continue
            clash = same_file(out, inp) if out.exists() else False
            if not clash:
                try:
                    r_out, r_in = out.resolve(), inp.resolve()
                except OSError:
                    continue
                clash = r_out == r_in or (inp.is_dir() and r_in in r_out.parents) or (out.is_dir() and r_out in r_in.parents)
            if clash:
                raise FastZDCError(f"the output would overwrite the input {inp}; choose another output", out)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-z_]+(?:\.part|\.h5part|\.old)$")


def remove_stale(path: str | Path) -> list[Path]:
    """Remove temporaries of ``path`` (files and folders) left by processes that no longer run."""
    path = Path(path)
    parent = _parent(path)
    removed = []
    try:
        entries = list(parent.glob(f".{glob_escape(path.name)}.*"))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or m.group("name") != path.name or _pid_alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _temp_name(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")


def _linkat(fd: int, dst: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.linkat(_AT_FDCWD, f"/proc/self/fd/{fd}".encode(), _AT_FDCWD, os.fsencode(dst), _AT_SYMLINK_FOLLOW) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(dst))


def _open_unnamed(folder: Path) -> int | None:
    """An ``O_TMPFILE`` descriptor in ``folder``, or None where the system has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_RDWR, 0o666 & ~_umask())
    except OSError:
        return None


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path for ``path``; it becomes ``path`` if the block succeeds.

    The temporary path may be ``/proc/self/fd/N`` (an unnamed file): open it with ``open()``, not by a
    library that needs a real file name (HDF5: pass the open file object).

    >>> with atomic_path("out.h5") as tmp:   # doctest: +SKIP
    ...     write_everything(tmp)
    """
    path = check_writable(path)
    remove_stale(path)
    suffix = suffix or ".part"
    fd = _open_unnamed(_parent(path))
    tmp_path = Path(f"/proc/self/fd/{fd}") if fd is not None else _temp_name(path, suffix)
    named: Path | None = None
    try:
        if fd is None:
            try:
                os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_umask()))
            except OSError as err:
                raise FastZDCError(f"cannot write here ({err.strerror or err})", path) from None
        yield tmp_path
        raise_if_signalled()
        if fd is not None:
            named = _temp_name(path, suffix)
            _linkat(fd, named)
            os.replace(named, path)
        else:
            os.replace(tmp_path, path)
    except OSError as err:
        _discard(fd, named if fd is not None else tmp_path)
        raise FastZDCError(f"cannot write ({err.strerror or err})", path) from None
    except BaseException:
        _discard(fd, named if fd is not None else tmp_path)
        raise
    else:
        if fd is not None:
            os.close(fd)


def _discard(fd: int | None, named: Path | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    if named is not None:
        with contextlib.suppress(OSError):
            named.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def check_dir_writable(path: str | Path) -> Path:
    """Fail early (before any work) if the folder ``path`` cannot be created or replaced."""
    path = Path(path)
    parent = _parent(path)
    if path.exists() and not path.is_dir():
        raise FastZDCError("exists and is not a folder", path)
    if not parent.is_dir():
        raise FastZDCError(f"folder {parent} does not exist", path)
    if not os.access(parent, os.W_OK | os.X_OK) or _virtual_fs(parent):
        raise FastZDCError(f"folder {parent} is not writable", path)
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; when the block succeeds it replaces ``path`` (a previous
    folder there is moved aside first and deleted after the swap), otherwise it is deleted."""
    path = check_dir_writable(path)
    remove_stale(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=_parent(path)))
    except OSError as err:
        raise FastZDCError(f"cannot write here ({err.strerror or err})", path) from None
    try:
        yield tmp
        raise_if_signalled()
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; finished folders get the usual mode
        old = None
        if path.exists():
            old = _temp_name(path, ".old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FastZDCError(f"cannot write ({err.strerror or err})", path) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
