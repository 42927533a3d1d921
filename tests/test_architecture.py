"""The package tree keeps its shape: imports point down the layers (counting imports inside functions),
no module imports another package's private names, and no module grows past 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "duckml"

# lower number = lower layer; a module may import its own package and anything ranked lower
LAYERS = {
    "duckml.errors": 0, "duckml.entities": 0, "duckml.sqlquote": 0, "duckml.clock": 0, "duckml.dberrors": 0,
    "duckml.version": 0, "duckml.sqlresult": 0,
    "duckml.compiler": 0.5,  # pure: scikit-learn objects in, SQL text out; only errors below it
    "duckml.store": 1,
    "duckml.tracking": 2,
    "duckml.search": 3,
    "duckml.models": 4,
    "duckml.scoring": 5,
    "duckml.connection": 6,
    "duckml.spark": 6.5,  # PREDICT on Spark: above scoring/models/compiler, imported only by its users
    "duckml": 7,  # the package root only re-exports
    "duckml.demo": 8, "duckml.ui": 8, "duckml.interop": 8,  # applications of the public API
    "duckml.mlflow": 8,  # MLflow's API over duckml's: nothing below may import it
    "duckml.cli": 9, "duckml.__main__": 10,
}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import in the file, inside functions too."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names if alias.name.startswith("duckml"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("duckml"):
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add((sub, None) if sub in known else (module, alias.name))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for module, _ in _imports(path, name, known):
            # importing a.b.c runs a/b/__init__ first (the root's own __init__ always runs first: not an edge)
            parts = module.split(".")
            for i in range(1 if module == "duckml" else 2, len(parts) + 1):
                prefix = ".".join(parts[:i])
                own_ancestor = i < len(parts) and name.startswith(prefix + ".")  # being initialized already
                if prefix in known and prefix != name and not own_ancestor:
                    edges.add(prefix)
        graph[name] = edges
    return graph


def _layer(module: str) -> tuple[str, int]:
    best = max((key for key in LAYERS if module == key or module.startswith(key + ".")), key=len, default=None)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS in {__file__}"
    return best, LAYERS[best]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_counting_imports_inside_functions():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_imports_point_down_the_layers():
    wrong = []
    for module, edges in _graph().items():
        home, rank = _layer(module)
        for target in edges:
            target_home, target_rank = _layer(target)
            if target_home != home and target_rank >= rank and not module.startswith(target + "."):
                wrong.append(f"{module} (layer {rank}) imports {target} (layer {target_rank})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_module_imports_another_packages_private_names():
    modules = _modules()
    known = set(modules)
    wrong = []
    for name, path in modules.items():
        own_package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
        for module, imported in _imports(path, name, known):
            target = module if imported is None else f"{module}.{imported}"
            private = any(part.startswith("_") and not part.startswith("__") for part in target.split("."))
            same_package = module == own_package or module.startswith(own_package + ".")
            if private and not same_package:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_600_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it by job"


def test_the_package_root_only_re_exports():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name not in ("__getattr__", "__dir__")]
    assert defined == [], f"duckml/__init__.py defines {defined}: define them in a package and re-export"
