"""Progress bars on stderr (stdout stays clean for ``--json``); silent when asked."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .errors import raise_if_signalled

stderr_console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(k, info="")``; shows a rich bar with count, elapsed and remaining time, and the
    latest ``info`` text (e.g. the running loss). On a non-terminal (log file) it prints plain lines."""
    if not enabled:
        yield _checked(lambda k, info="": None)
        return
    if not stderr_console.is_terminal:
        gen = _plain_progress(description, total)
        yield _checked(next(gen))
        for _ in gen:
            pass
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=stderr_console,
        transient=False,
    ) as prog:
        task = prog.add_task(description, total=total, info="")

        def advance(k: int, info: str = "") -> None:
            prog.update(task, advance=k, **({"info": info} if info else {}))

        yield _checked(advance)


def _plain_progress(description: str, total: int | None, every_s: float = 30.0) -> Iterator[Callable[[int], None]]:
    """Log-file friendly progress (batch jobs): one line at most every ``every_s`` seconds and at the end."""
    start = last = time.perf_counter()
    done = 0
    latest = ""

    def line() -> str:
        elapsed = time.perf_counter() - start
        if total:
            eta = elapsed / max(done, 1) * (total - done)
            return f"{description}: {done}/{total} ({100 * done / total:.0f} %), {elapsed:.0f} s elapsed, ~{eta:.0f} s left {latest}"
        return f"{description}: {done} done, {elapsed:.0f} s elapsed {latest}"

    def advance(k: int, info: str = "") -> None:
        nonlocal done, last, latest
        done += k
        latest = info or latest
        now = time.perf_counter()
        if now - last >= every_s:
            last = now
            print(line(), file=sys.stderr, flush=True)

    yield advance
    print(line(), file=sys.stderr, flush=True)


class StageClock:
    """The progress of a job made of stages of unequal cost (the demo): after each stage one line on
    stderr with the fraction done, the time elapsed and an estimate of the time left.

    Each stage has a weight (its expected cost in arbitrary units); the estimate is
    ``elapsed / done * (total - done)`` in those units, refined as stages finish.
    """

    def __init__(self, label: str, total: float, enabled: bool = True) -> None:
        self.label = label
        self.total = float(total)
        self.enabled = enabled
        self.done = 0.0
        self.start = time.perf_counter()

    def estimate(self) -> tuple[float, float | None]:
        """``(seconds elapsed, seconds left or None before the first stage ends)``."""
        elapsed = time.perf_counter() - self.start
        if self.done <= 0:
            return elapsed, None
        return elapsed, elapsed / self.done * max(self.total - self.done, 0.0)

    def tick(self, weight: float, what: str = "") -> None:
        """Stage ``what`` of cost ``weight`` is done."""
        self.done = min(self.done + weight, self.total)
        if not self.enabled:
            return
        elapsed, left = self.estimate()
        eta = "" if left is None else f", about {_duration(left)} left"
        stderr_console.print(f"[dim]{self.label}: {100 * self.done / self.total:.0f} % done ({what}), "
                             f"{_duration(elapsed)} elapsed{eta}[/]", highlight=False)


def _duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``."""
    seconds = int(round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def _checked(advance: Callable[..., None]) -> Callable[..., None]:
    """``advance`` that first raises a signal recorded while it could not be raised (see
    :func:`fastzdc.errors.raise_if_signalled`): long loops stop at their next batch."""

    def wrapped(k: int, info: str = "") -> None:
        raise_if_signalled()
        advance(k, info)

    return wrapped
