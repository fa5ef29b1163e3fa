"""``fastzdc fit``: train every stage of a model on one data file, evaluate, export, summarise.

* :mod:`.plan`     -- the stages, the presets (``default`` = the shipped recipes, ``quick``) and ``--config``
* :mod:`.manifest` -- ``DIR/fit.json``: stage states and hashes, for resuming and refusing
* :mod:`.run`      -- running the stages (:func:`run_fit`)
"""

from __future__ import annotations

from .run import run_fit

__all__ = ["run_fit"]
