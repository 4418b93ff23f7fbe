"""The package's layout: one job per subpackage, layered so that no import runs up.

The layers, bottom to top; a module may import its own subpackage and any lower layer (the
check reads every import statement, function-level ones included), so that there is no
import circle between subpackages, and none between modules either (checked separately).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

LAYERS = [
    "errors", "_testing", "kernels", "params", "files", "comm", "data", "runlog", "problems",
    "schedules", "algorithms", "registry", "analysis", "session", "torchprob", "torch", "builtin",
    "cli",
    "__main__",
]  # fmt: skip
PACKAGE = ROOT / "crpsgd"
#: Files of the package allowed over ~300 lines: the LIBSVM parser (one state machine).
LONG_ALLOWED = {"data/libsvm.py"}


def _imports() -> dict[str, set[str]]:
    """``module -> {crpsgd modules it imports}`` over every import statement (those for type
    checkers only aside)."""
    graph: dict[str, set[str]] = defaultdict(set)
    modules = {_name(p) for p in PACKAGE.rglob("*.py")}
    for path in PACKAGE.rglob("*.py"):
        name = _name(path)
        tree = ast.parse(path.read_text())
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("crpsgd")
            ):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # crpsgd itself: the lazy public face


def test_no_import_runs_up_a_layer():
    upward = [
        f"{a} -> {b}"
        for a, targets in _imports().items()
        for b in targets
        if _layer(a) and _layer(b) and _layer(a) != _layer(b)
        and LAYERS.index(_layer(b)) > LAYERS.index(_layer(a))
    ]  # fmt: skip
    assert not upward, upward


def test_every_subpackage_has_a_layer():
    tops = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    tops |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert tops == set(LAYERS)


def test_no_import_circle_between_modules():
    graph = _imports()
    seen: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if _is_face(nxt, node):
                continue
            assert seen.get(nxt) != 1, " -> ".join([*path, node, nxt])
            if nxt not in seen:
                visit(nxt, [*path, node])
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [])


def _is_face(target: str, importer: str) -> bool:
    """A package's ``__init__`` imported by its own submodule (``from crpsgd.comm import
    failures`` names the package first): not an arrow of the design."""
    return importer.startswith(target + ".")


def test_few_modules_at_the_top_and_none_too_long():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 310
    }
    assert set(long) <= LONG_ALLOWED, long


def test_the_public_face_loads_neither_mpi_nor_numba_and_names_what_it_lists():
    code = (
        "import sys, crpsgd\n"
        "assert 'mpi4py' not in sys.modules and 'numba' not in sys.modules\n"
        "missing = [n for n in crpsgd.__all__ if getattr(crpsgd, n, None) is None]\n"
        "assert not missing, missing\n"
        "print(crpsgd.Param.__module__, crpsgd.register_algorithm.__module__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["crpsgd.params.param", "crpsgd.registry.parts"]
