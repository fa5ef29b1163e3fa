"""``DIR/fit.json``: what a fit folder holds, stage by stage, written atomically after every change.

It records the data file's SHA-256 and, per stage, the hash of its settings (:meth:`Plan.stage_hash`),
its state (``running`` or ``done``), its time and its result. A re-run of the same command skips the
stages that are done; a different data file, or a stage whose settings changed, is refused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .. import __version__
from .._atomic import atomic_write_text
from ..errors import FastZDCError

MANIFEST = "fit.json"
FORMAT = "fastzdc-fit"
FORMAT_VERSION = 1


class Manifest:
    """The manifest of one fit folder (kept in memory, saved on every change)."""

    def __init__(self, folder: Path, data: dict[str, Any], detector: str, stages: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.data = data
        self.detector = detector
        self.stages: dict[str, dict[str, Any]] = stages or {}

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST

    @classmethod
    def read(cls, folder: Path) -> Manifest | None:
        """The manifest of ``folder``, or None where there is none."""
        path = folder / MANIFEST
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FastZDCError(f"unreadable fit manifest ({err})", path) from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("stages"), dict) \
                or not isinstance(raw.get("data"), dict):
            raise FastZDCError("not a fastzdc fit manifest", path)
        if raw.get("format_version") != FORMAT_VERSION:
            raise FastZDCError(f"fit manifest version {raw.get('format_version')} is not {FORMAT_VERSION}", path)
        return cls(folder, raw["data"], str(raw.get("detector")), raw["stages"])

    def check_compatible(self, data: dict[str, Any], detector: str, hashes: dict[str, str]) -> None:
        """Refuse to continue when the data or any recorded stage's settings differ (``hashes``: this plan's
        stages in order, with their settings' hashes)."""
        if self.data.get("sha256") != data["sha256"] or self.detector != detector:
            raise FastZDCError(f"this fit folder was made from other data ({self.data.get('path')}, SHA-256 differs); "
                               "give a new --out", self.folder)
        # stages of this plan that the folder's plan had not: missing, yet followed by a recorded one (a run
        # stopped early lacks its later stages too, and its plan may still be this one)
        order = list(hashes)
        added = [st for i, st in enumerate(order) if st not in self.stages and any(t in self.stages for t in order[i + 1:])]
        for stage, entry in self.stages.items():
            if stage in hashes and entry.get("hash") != hashes[stage]:
                if added:  # e.g. a newer recipe adds a stage whose product the evaluation takes
                    raise FastZDCError(f"the {stage} stage in this fit folder was run with other settings, in a plan "
                                       f"without the stage(s) {', '.join(added)} that this one runs: give a new --out",
                                       self.folder)
                raise FastZDCError(f"the {stage} stage in this fit folder was run with other settings (config hash "
                                   "differs): give the same --preset/--config/--init, or a new --out", self.folder)

    def done(self, stage: str, stage_hash: str) -> bool:
        entry = self.stages.get(stage)
        return bool(entry) and entry.get("status") == "done" and entry.get("hash") == stage_hash

    def start(self, stage: str, stage_hash: str) -> None:
        entry = self.stages.get(stage, {})
        self.stages[stage] = {"hash": stage_hash, "status": "running", "started": entry.get("started") or _now(),
                              "seconds": entry.get("seconds", 0.0)}
        self.save()

    def finish(self, stage: str, seconds: float, result: dict[str, Any]) -> None:
        entry = self.stages[stage]
        entry.update({"status": "done", "finished": _now(), "seconds": round(entry.get("seconds", 0.0) + seconds, 2),
                      "result": result})
        self.save()

    def add_time(self, stage: str, seconds: float) -> None:
        """Time spent on an interrupted attempt (counted in the stage's total)."""
        entry = self.stages.get(stage)
        if entry is not None:
            entry["seconds"] = round(entry.get("seconds", 0.0) + seconds, 2)
            self.save()

    def save(self) -> None:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION, "code_version": __version__, "data": self.data,
                "detector": self.detector, "stages": self.stages}
        atomic_write_text(self.path, json.dumps(body, indent=2) + "\n")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
