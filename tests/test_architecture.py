"""The package's layers: no import circle, and no module importing a layer above its own.

Every ``import`` statement is read, including imports inside functions (deferred imports still tie
modules together). ``TYPE_CHECKING`` blocks are skipped: they never run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "fastzdc"

LAYERS: list[set[str]] = [
    {"errors", "_atomic", "_alloc", "progress", "conditions"},
    {"detector", "devices"},
    {"checkpoint", "generator"},
    {"data"},
    {"mc"},
    {"baselines"},
    {"nn"},
    {"sampling"},
    {"models"},
    {"training"},
    {"inference"},
    {"evaluation"},
    {"report"},
    {"export"},
    {"production"},
    {"workflows", "demo", "fit", "joint"},
    {"cli", "cli_joint"},
    {"__init__"},
    {"__main__"},
]
"""lowest first: a module may import its own layer and the layers before it"""

ALLOWED_UPWARD = {
    ("fastzdc.training.loop", "fastzdc.evaluation.metrics"):
        "validation W during training is the evaluation's own metric (W on the 5 channel sums); the metric "
        "module imports nothing above the detector layer, so the arrow creates no circle",
}
"""the one import of a higher layer, and why"""


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module}: its top-level name {top!r} is in no layer of tests/test_architecture.py")


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] if len(parts) > 1 else [*parts]
    return ".".join(parts) if parts != ["fastzdc"] else "fastzdc"


def _type_checking_lines(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return skip


def imports_of(path: Path) -> set[str]:
    """The fastzdc modules ``path`` imports (``from .x import y`` resolved; ``y`` counted when it is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("fastzdc"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fastzdc"))
    found.discard(name)
    return {m for m in found if _exists(m)}


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:]) if "." in module else Path()
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PKG.rglob("*.py"))}


def test_no_module_imports_a_higher_layer():
    upward = []
    for mod, deps in graph().items():
        for dep in deps:
            if dep == "fastzdc":  # the package itself: only __version__ is read from it
                continue
            if layer_of(dep) > layer_of(mod) and (mod, dep) not in ALLOWED_UPWARD:
                upward.append(f"{mod} -> {dep}")
    assert not upward, "imports of a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    g = {m: {d for d in deps if d != "fastzdc"} for m, deps in graph().items()}
    # a package's __init__ re-exports its modules: an edge from a module to its own package's __init__
    # is an edge to whatever that __init__ imports, so circles through __init__ files count too
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)


def test_the_checker_sees_a_circle(tmp_path, monkeypatch):
    """The checker itself: a planted upward import is reported (the test above can fail)."""
    pkg = tmp_path / "fastzdc"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("from ..inference import x\n")
    (pkg / "inference").mkdir()
    (pkg / "inference" / "__init__.py").write_text("from ..data import y\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    g = graph()
    assert g["fastzdc.data"] == {"fastzdc.inference"} and g["fastzdc.inference"] == {"fastzdc.data"}
    with pytest.raises(AssertionError, match="fastzdc.data -> fastzdc.inference"):
        test_no_module_imports_a_higher_layer()
    with pytest.raises(pytest.fail.Exception, match="import circle"):
        test_no_import_circle()


def test_the_allowed_upward_import_imports_nothing_above_the_detector():
    deps = graph()["fastzdc.evaluation.metrics"]
    assert all(layer_of(d) <= layer_of("fastzdc.generator") for d in deps), deps
