"""Progress bars on stderr (stdout stays clean for ``--json``); silent when asked."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stderr_console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(k, info="")``; shows a rich bar with count, elapsed and remaining time, and the
    latest ``info`` text (e.g. the running loss). On a non-terminal (log file) it prints plain lines."""
    if not enabled:
        yield lambda k, info="": None
        return
    if not stderr_console.is_terminal:
        yield from _plain_progress(description, total)
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

        yield advance


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
