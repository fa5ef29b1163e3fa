"""The documentation keeps its promises: the README's quick start runs as written, the README stays
short, no tracked file narrates the project's development, and no file points outside the repository."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_WORK = "ses" + "sion"  # spelled in pieces so that this file passes its own check
_TICKET = "is" + "sue"
_PERIOD = "per" + "iod"
_TRIED = "tri" + "ed"
HISTORY = re.compile(rf"\b({_WORK}s?\s+\d+|{_TICKET}s?\s+#?\d+|work {_PERIOD}|{_TRIED} last time|next {_WORK})\b", re.I)
EXTERNAL = re.compile(r"\b(physics|ecosystem|cpu_performance|published|reference_models)\.md\b|\.\./shared/")


def quick_start_commands(text: str) -> list[str]:
    """The command lines of the first ```bash block under the '## Quick start' heading."""
    m = re.search(r"^## Quick start\b.*?^```bash\n(.*?)^```", text, re.S | re.M)
    if m is None:
        raise AssertionError("README.md has no ```bash block under '## Quick start'")
    return [ln.strip() for ln in m.group(1).splitlines() if ln.strip() and not ln.strip().startswith("#")]


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    keep = (".py", ".md", ".toml", ".sh", ".txt", ".json", ".cfg", ".yml", ".yaml", "")
    return [ROOT / f for f in out if Path(f).suffix in keep and (ROOT / f).is_file()]


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= 300, f"README.md has {n} lines (at most 300)"


def test_no_development_history_and_no_external_references():
    hits = []
    for f in tracked_text_files():
        try:
            text = f.read_text()
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if HISTORY.search(line) or EXTERNAL.search(line):
                hits.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits[:20])


def test_the_patterns_catch_what_they_should():
    assert HISTORY.search(f"as measured in {_WORK} 7") and HISTORY.search(f"see {_TICKET} #4")
    assert not HISTORY.search(f"ONNX Runtime {_WORK} options")
    assert EXTERNAL.search("cf. " + "phys" + "ics.md §2") and not EXTERNAL.search("docs/mc.md")


def test_quick_start_runs_as_written(tmp_path, monkeypatch, cli):
    """Every line of the quick start, in a fresh folder that sees the repository's weights."""
    commands = quick_start_commands(README.read_text())
    assert commands and all(c.startswith(("fastzdc ", "mkdir -p ")) for c in commands), commands
    (tmp_path / "weights").symlink_to(ROOT / "weights")
    monkeypatch.chdir(tmp_path)
    for command in commands:
        args = shlex.split(command)
        if args[0] == "mkdir":
            for folder in args[2:]:
                Path(folder).mkdir(parents=True, exist_ok=True)
            continue
        res = cli(*args[1:])
        assert res.code == 0, f"{command}: {res.err.strip()[-300:]}"
    assert (tmp_path / "eval_zn" / "report.html").is_file()
