"""Every example in a docstring of the package runs as written (from the repository root, where the
shipped ``weights/`` are)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "fastzdc"
MODULES = sorted(
    ".".join(p.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in PKG.rglob("*.py")
    if p.name != "__main__.py"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"


def test_the_public_api_has_examples():
    import fastzdc

    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for t in finder.find(fastzdc) if t.name.startswith("fastzdc") and t.name.count(".") <= 1)
    assert examples >= 4, "fastzdc.load / fastzdc.simulate need runnable examples"
