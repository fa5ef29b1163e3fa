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
