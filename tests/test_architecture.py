"""The import rules of the package's floors, read from the source (ast), so they stay true as code moves.

* The sub-packages and top-level modules of ``edgepose`` import each other without a cycle.
* ``codecs/`` and ``runtime/`` (what a device runs) never reach ``data/``, ``models/``, ``engine/`` or torch,
  following every import transitively, including imports inside functions (only ``TYPE_CHECKING`` blocks are
  exempt, as they never run).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgepose"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            found |= set().union(*(_imports(n) for n in node.orelse)) if node.orelse else set()
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        found |= _imports(node)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if target.startswith("edgepose"):
                # "from edgepose.x import y": y may be a module or a name; keep whichever exists
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    graph[name].add(target)
            else:
                graph[name].add(target.split(".")[0])
    return graph


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgepose"


def test_floors_import_each_other_without_a_cycle() -> None:
    floors: dict[str, set[str]] = defaultdict(set)
    for source, targets in _graph().items():
        for target in targets:
            if target.startswith("edgepose") and _floor(target) not in (_floor(source), "edgepose"):
                floors[_floor(source)].add(_floor(target))
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(floors.get(node, ())):
            assert state.get(nxt) != 1, f"import cycle between floors: {' -> '.join([*path, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for floor in sorted(floors):
        if floor not in state:
            visit(floor, [floor])
    assert "codecs" in floors and "runtime" in floors  # the graph was really read


def test_codecs_and_runtime_reach_neither_data_models_engine_nor_torch() -> None:
    graph = _graph()
    forbidden = ("edgepose.data", "edgepose.models", "edgepose.engine", "torch")
    starts = [m for m in graph if m.startswith(("edgepose.codecs", "edgepose.runtime"))]
    assert len(starts) >= 5
    for start in starts:
        seen, stack = {start}, [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                bad = nxt == "torch" or any(nxt == f or nxt.startswith(f + ".") for f in forbidden[:3])
                assert not bad, f"{' -> '.join([*path, nxt])}: the device floor must not import this"
                if nxt.startswith("edgepose") and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
