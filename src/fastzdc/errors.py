"""The one exception type a user can cause.

Every defect in user input (a file, an argument, a checkpoint) raises :class:`FastZDCError`
with a one-line message that names the file (when there is one) and the defect. The CLI turns it
into that line on stderr and exit code 2; library users can catch it.
"""

from __future__ import annotations

from pathlib import Path


class FastZDCError(Exception):
    """A defect in user input: bad file, bad argument, unusable checkpoint."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = message if path is None else f"{path}: {message}"
        super().__init__(text.replace("\n", " "))


class Interrupted(KeyboardInterrupt):
    """A signal ended the command (SIGINT, SIGTERM, SIGHUP): temporary files are removed on the way out
    and the CLI exits with ``128 + signal number`` (130 for Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"interrupted by signal {self.signum}")


_PENDING: list[int] = []


def note_signal(signum: int) -> None:
    """Record that a signal arrived (kept even if the exception it raised was swallowed somewhere)."""
    _PENDING.append(int(signum))


def pending_signal() -> int | None:
    """The first signal recorded by :func:`note_signal` since :func:`clear_signals`, or None."""
    return _PENDING[0] if _PENDING else None


def clear_signals() -> None:
    _PENDING.clear()


def raise_if_signalled() -> None:
    """Raise :class:`Interrupted` if a signal arrived: outputs are never committed after one."""
    sig = pending_signal()
    if sig is not None:
        raise Interrupted(sig)


_DEFERRED = [0]


class defer_signals:
    """Inside this block a signal is only recorded, not raised (HDF5 calls back into Python, where an
    exception cannot propagate); :func:`raise_if_signalled` after the block raises it."""

    def __enter__(self) -> None:
        _DEFERRED[0] += 1

    def __exit__(self, *exc: object) -> None:
        _DEFERRED[0] -= 1


def signals_deferred() -> bool:
    return _DEFERRED[0] > 0
